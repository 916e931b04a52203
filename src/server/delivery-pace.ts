/**
 * How often a room may deliver while the process is behind (`--max-delivery-delay-ms`).
 *
 * A room's batch is written to every subscriber in the turn it comes, outside the per-turn budget
 * of client work (TurnBudget), so that live streams never wait behind requests. But a process
 * short of CPU (a worker that took the clients of a rolling restart, a machine shared with other
 * work) then spends its turns writing one message at a time to each socket while HTTP requests
 * wait for seconds, their clients time out and come back, and each write costs as much for one
 * message as for several. That state is a queue of requests that stands: requests of two client
 * addresses or more have waited for their turn without a break for BEHIND_MS or more
 * (RequestScheduler.backlogMs). Not the short burst of polls that follows every delivery to many
 * long pollers; not one address that keeps hundreds of requests waiting (a flood): its requests
 * wait for each other, the others' are served each round, and it cannot slow anyone's deliveries.
 *
 * While one stands, a room that delivered less than `min(its age, maxDelayMs)` ago
 * gathers what comes until then and delivers it as one batch: one write per subscriber for
 * several messages, one long-poll answer (and one request back) for all of them. No message waits
 * longer than the requests already do, nor longer than `maxDelayMs`; order and exactly-once are
 * the batch's as ever. A room that has not delivered for that long delivers at once: a single
 * message is never held. Centrifugo's `write_delay` gathers a connection's messages likewise,
 * always; this only while the process is behind.
 */
export class DeliveryPace {
  /** Batches held back since start (`switchboard_delivery_batches_paced_total`). */
  paced = 0;

  constructor(
    /** The longest a batch is held back (0: never). */
    private readonly maxDelayMs: number,
    /** For how long requests of two addresses or more have waited without a break, ms (RequestScheduler.backlogMs; 0: they do not). */
    private readonly backlogMs: () => number,
  ) {}

  /** The least time between two deliveries of one room now, ms: 0 unless the process is behind. */
  interval(): number {
    if (this.maxDelayMs === 0) return 0;
    const backlog = this.backlogMs();
    return backlog < BEHIND_MS ? 0 : Math.min(backlog, this.maxDelayMs);
  }
}

/**
 * A process whose queue of requests has stood this long is behind. After a delivery to thousands
 * of long pollers, their polls back wait some tens of milliseconds.
 */
export const BEHIND_MS = 100;
