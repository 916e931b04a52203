/**
 * How often a room may deliver while the process is behind (`--max-delivery-delay-ms`).
 *
 * A room's batch is written to every subscriber in the turn it comes, outside the per-turn budget
 * of client work (TurnBudget), so that live streams never wait behind requests. But a process
 * short of CPU (a worker that took the clients of a rolling restart, a machine shared with other
 * work) then spends its turns writing one message at a time to each socket while HTTP requests
 * wait for seconds, their clients time out and come back, and each write costs as much for one
 * message as for several. That state is told by how long a client waits for its turn in the
 * RequestScheduler's round of addresses (`turnWaitMs`): BEHIND_MS or more. Not by how long the
 * queue has stood: one address that keeps hundreds of requests waiting (a flood) waits for
 * itself, and does not slow anyone's deliveries; nor by the short burst of polls that follows
 * every delivery to many long pollers.
 *
 * While clients wait that long, a room that delivered less than `min(wait, maxDelayMs)` ago
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
    /** How long a client waits for its turn now, ms (RequestScheduler.turnWaitMs; 0: nothing waits). */
    private readonly turnWaitMs: () => number,
  ) {}

  /** The least time between two deliveries of one room now, ms: 0 unless the process is behind. */
  interval(): number {
    if (this.maxDelayMs === 0) return 0;
    const wait = this.turnWaitMs();
    return wait < BEHIND_MS ? 0 : Math.min(wait, this.maxDelayMs);
  }
}

/**
 * A process whose clients wait this long for their turn is behind. After a delivery to thousands
 * of long pollers, their polls back wait some tens of milliseconds.
 */
export const BEHIND_MS = 100;
