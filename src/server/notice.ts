import type { Codec } from './codecs.js';

/** The kinds of ephemeral notices: not in the log, sent to live subscribers only. */
export type NoticeKind = 'typing' | 'presence' | 'receipt';

/**
 * One ephemeral notice (typing, presence, read receipt) on its way to a room's subscribers, as
 * Batch is for entries: its JSON is made once, and its form in each wire format once too, on
 * first use, whatever the number of recipients.
 */
export class Notice {
  private readonly cache = new Map<string, string | Buffer | undefined>();

  constructor(
    readonly kind: NoticeKind,
    /** `{type: kind, ...}` as JSON. */
    readonly json: string,
  ) {}

  /** This notice in `codec`'s format; undefined when that format has none of this kind. */
  encoded(codec: Codec): string | Buffer | undefined {
    if (this.cache.has(codec.format)) return this.cache.get(codec.format);
    const value = codec[this.kind](this.json);
    this.cache.set(codec.format, value);
    return value;
  }
}
