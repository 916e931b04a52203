import { SpreadRounds, type Spread } from '../spread-rounds.js';

/** What the keepalive timer asks of an open stream. */
export interface KeepaliveTarget extends Spread {
  /** Writes a keepalive comment; false once the stream is over (closed, cut, or its client gone). */
  keepalive(): boolean;
}

/**
 * The keepalive comments of every open SSE stream of the process with one interval: one timer,
 * not one per stream (a Timeout, its closure and context: some 250 bytes a stream), writes a
 * comment to each stream every `ms`. A stream's comments are `ms` apart; its first comes at most
 * `ms` after it joined. The streams' comments are spread over the interval (SpreadRounds: a
 * slice of them every quarter second), so that tens of thousands of streams do not take their
 * writes at once, holding the event loop (and every other client) every interval. The timer runs
 * only while some stream is open, and never holds the process open.
 */
export class SseKeepalive {
  private static readonly byInterval = new Map<number, SseKeepalive>();

  /** The keepalive of the streams with this interval (streams of servers with other settings have their own). */
  static of(ms: number): SseKeepalive {
    let keepalive = SseKeepalive.byInterval.get(ms);
    if (keepalive === undefined) SseKeepalive.byInterval.set(ms, (keepalive = new SseKeepalive(ms)));
    return keepalive;
  }

  private readonly rounds: SpreadRounds<KeepaliveTarget>;

  private constructor(ms: number) {
    this.rounds = new SpreadRounds(ms, (target) => target.keepalive());
  }

  get size(): number {
    return this.rounds.size;
  }

  add(target: KeepaliveTarget): void {
    this.rounds.add(target);
  }

  delete(target: KeepaliveTarget): void {
    this.rounds.delete(target);
  }
}
