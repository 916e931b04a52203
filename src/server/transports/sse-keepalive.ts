/** Streams written per event-loop turn in a keepalive round. */
const SLICE = 512;

/** What the keepalive timer asks of an open stream. */
export interface KeepaliveTarget {
  /** Writes a keepalive comment; false once the stream is over (closed, cut, or its client gone). */
  keepalive(): boolean;
}

/**
 * The keepalive comments of every open SSE stream of the process with one interval: one timer,
 * not one per stream (a Timeout, its closure and context: some 250 bytes a stream), writes a
 * comment to each stream every `ms`. A stream's comments are `ms` apart; its first comes at most
 * `ms` after it joined. The timer runs only while some stream is open, and never holds the
 * process open. A round writes `SLICE` streams per event-loop turn, so that tens of thousands of
 * streams do not hold one turn (and every other client) for their writes.
 */
export class SseKeepalive {
  private static readonly byInterval = new Map<number, SseKeepalive>();

  /** The keepalive of the streams with this interval (streams of servers with other settings have their own). */
  static of(ms: number): SseKeepalive {
    let keepalive = SseKeepalive.byInterval.get(ms);
    if (keepalive === undefined) SseKeepalive.byInterval.set(ms, (keepalive = new SseKeepalive(ms)));
    return keepalive;
  }

  private readonly targets = new Set<KeepaliveTarget>();
  private timer: NodeJS.Timeout | undefined;
  /** Where the round under way stands (undefined between rounds). */
  private round: Iterator<KeepaliveTarget> | undefined;

  private constructor(private readonly ms: number) {}

  get size(): number {
    return this.targets.size;
  }

  add(target: KeepaliveTarget): void {
    this.targets.add(target);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.ms);
      this.timer.unref();
    }
  }

  delete(target: KeepaliveTarget): void {
    if (!this.targets.delete(target) || this.targets.size > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.round !== undefined) return;
    this.round = this.targets.values();
    this.continueRound();
  }

  private continueRound(): void {
    // A Set's iterator goes on over later additions and skips deleted entries.
    for (let n = 0; n < SLICE; n++) {
      const next = this.round!.next();
      if (next.done) {
        this.round = undefined;
        return;
      }
      if (!next.value.keepalive()) this.delete(next.value);
    }
    setImmediate(() => this.continueRound());
  }
}
