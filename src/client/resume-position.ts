import { formatCursor, parseCursor } from '../protocol/cursor.js';

/**
 * The client's place in the room log: the epoch and the last seq handed to the application.
 * Every entry from every transport passes `accept`, which lets each seq through once, so
 * overlapping transports (a live switch, a resume that replays) neither lose nor double.
 */
export class ResumePosition {
  private epoch: string | undefined;
  private seq: number | undefined;
  /** Epochs left behind after a reset: a stale transport's entries of those are dropped. */
  private readonly retired = new Set<string>();

  /** Starts from a cursor given by the application (`after`), if any. Throws INVALID_CURSOR. */
  constructor(after?: string) {
    const parsed = parseCursor(after, 'after');
    if (parsed) {
      this.epoch = parsed.epoch;
      this.seq = parsed.seq;
    }
  }

  /** The cursor to resume from, undefined before anything is known ("from now on"). */
  get cursor(): string | undefined {
    if (this.seq === undefined) return undefined;
    return this.epoch === undefined ? String(this.seq) : formatCursor({ epoch: this.epoch, seq: this.seq });
  }

  get lastSeq(): number | undefined {
    return this.seq;
  }

  /**
   * The server stated where a subscription starts (subscribed / ready / first poll): `seq` is
   * the last one it will not send. Without a reset it is our own position (or "now" when we had
   * none); with one, the position moves there and the old epoch is retired.
   */
  start(epoch: string, seq: number, reset: 'epoch' | 'expired' | undefined): void {
    if (reset !== undefined || this.seq === undefined) {
      if (this.epoch !== undefined && this.epoch !== epoch) this.retired.add(this.epoch);
      this.epoch = epoch;
      this.seq = seq;
      return;
    }
    // A bare-seq cursor learns its epoch here.
    this.epoch ??= epoch;
  }

  /**
   * `new` when the entry must be delivered (its seq is now the position); `seen` for one already
   * delivered or from a retired epoch; `new-epoch` when it opens an epoch no subscription
   * announced (the history was reset while we were live): that epoch is adopted.
   */
  accept(epoch: string, seq: number): 'new' | 'seen' | 'new-epoch' {
    if (this.retired.has(epoch)) return 'seen';
    if (this.epoch !== undefined && epoch !== this.epoch) {
      this.retired.add(this.epoch);
      this.epoch = epoch;
      this.seq = seq;
      return 'new-epoch';
    }
    this.epoch = epoch;
    if (this.seq !== undefined && seq <= this.seq) return 'seen';
    this.seq = seq;
    return 'new';
  }
}
