import type { Codec } from './codecs.js';

/** The kinds of ephemeral notices: not in the log, sent to live subscribers only. */
export type NoticeKind = 'typing' | 'presence' | 'receipt';

/**
 * One ephemeral notice (typing, presence, read receipt), or several of a kind, on their way to a
 * room's subscribers, as Batch is for entries: their JSON is made once, and their form in each
 * wire format once too (several: one after the other, written at once), on first use, whatever
 * the number of recipients.
 */
export class Notice {
  private readonly cache = new Map<string, string | Buffer | undefined>();

  constructor(
    readonly kind: NoticeKind,
    /** `{type: kind, ...}` as JSON; several notices of the kind: each one's. */
    readonly json: string | readonly string[],
  ) {}

  /** This notice in `codec`'s format; undefined when that format has none of this kind. */
  encoded(codec: Codec): string | Buffer | undefined {
    if (this.cache.has(codec.format)) return this.cache.get(codec.format);
    const value = typeof this.json === 'string' ? codec[this.kind](this.json) : joined(this.json.map((json) => codec[this.kind](json)));
    this.cache.set(codec.format, value);
    return value;
  }
}

/** Several notices' forms in one format (a codec's are all text or all framed bytes), one after the other; undefined when the format has none. */
function joined(parts: readonly (string | Buffer | undefined)[]): string | Buffer | undefined {
  if (parts.some((p) => p === undefined)) return undefined;
  if (parts.length === 1) return parts[0];
  return typeof parts[0] === 'string' ? parts.join('') : Buffer.concat(parts as Buffer[]);
}
