/**
 * How often a room may deliver while the process is behind (`--max-delivery-delay-ms`).
 *
 * A room's batch is written to every subscriber in the turn it comes, outside the per-turn budget
 * of client work (TurnBudget), so that live streams never wait behind requests. But a process
 * short of CPU (a worker that took the clients of a rolling restart, a machine shared with other
 * work) then spends its turns writing one message at a time to each socket while HTTP requests
 * wait for seconds, their clients time out and come back, and each write costs as much for one
 * message as for several. A queue that stands (requests have waited without a break for
 * BACKLOG_MS or more) is that state, not the short burst of polls that follows every delivery.
 *
 * While one stands, a room that delivered less than `min(backlog, maxDelayMs)` ago gathers what
 * comes until then and delivers it as one batch: one write per subscriber for several messages,
 * one long-poll answer (and one request back) for all of them. No message waits longer than the
 * requests already do, nor longer than `maxDelayMs`; order and exactly-once are the batch's as
 * ever. A room that has not delivered for that long delivers at once: a single message is never
 * held. Centrifugo's `write_delay` gathers a connection's messages likewise, always; this only
 * while the process is behind.
 */
export class DeliveryPace {
  /** Batches held back since start (`switchboard_delivery_batches_paced_total`). */
  paced = 0;

  constructor(
    /** The longest a batch is held back (0: never). */
    private readonly maxDelayMs: number,
    /** For how long work has waited for a turn without a break, ms (0: nothing waits). */
    private readonly backlogMs: () => number,
  ) {}

  /** The least time between two deliveries of one room now, ms: 0 unless a backlog stands. */
  interval(): number {
    if (this.maxDelayMs === 0) return 0;
    const backlog = this.backlogMs();
    return backlog < BACKLOG_MS ? 0 : Math.min(backlog, this.maxDelayMs);
  }
}

/**
 * Requests that waited without a break this long are a standing queue: the process is behind.
 * The polls that come back after a delivery to many long pollers wait some tens of milliseconds.
 */
export const BACKLOG_MS = 100;
