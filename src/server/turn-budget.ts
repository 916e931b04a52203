/** Milliseconds of client work (WebSocket frames, HTTP requests), all clients together, run in one turn of the event loop. */
export const TURN_BUDGET_MS = 5;

/** The longest that requests wait, at a time, for a burst of new connections to be accepted. */
export const ACCEPT_FIRST_MS = 20;

/**
 * One budget of client work per event-loop turn, shared by every connection of the process.
 * Work that needs no I/O (a refused frame, a refused request) runs without yielding, so without
 * it a burst on many connections, or hundreds of requests read in one poll, would run to its end
 * before any other client (a health check) is served. A turn is counted from the first piece of
 * client work until the loop's next check phase; past the budget, work waits for a later turn
 * (`setImmediate`: after the I/O read meanwhile, other clients' requests among it, was served).
 *
 * While connections arrive, accepting them comes first. libuv (1.45 and later) accepts one
 * connection per turn of the loop, so a burst waits in the kernel's queue, in arrival order, one
 * turn each; were each of those turns to serve the request of the connection it had just
 * accepted, a health check behind 300 new connections would wait for 300 requests. So after a
 * turn that accepted a connection (`noteAccept`), `accepting()` is true and requests wait, read
 * but not run, while the queue drains at the cost of an accept per turn; then the
 * RequestScheduler's fair rounds serve them, a newcomer's address in the first round. For at most
 * ACCEPT_FIRST_MS at a time, then a turn of work: a steady stream of connections still leaves the
 * requests their turns.
 */
export class TurnBudget {
  private turnStart = 0;
  /** True from the first work of a turn until the check phase that ends it. */
  private counting = false;
  private waiting: (() => void)[] = [];
  private scheduled = false;
  /** Counted turns so far (a check phase ends each). */
  private turns = 0;
  /** The turn of the last accepted connection, and when it was. */
  private acceptedIn = Number.NEGATIVE_INFINITY;
  private acceptedAt = Number.NEGATIVE_INFINITY;
  /** Since when requests have waited for accepting, in the current burst. */
  private acceptingSince: number | undefined;
  /** Requests get this turn and the next, and this long, after ACCEPT_FIRST_MS of accepting. */
  private workTurn = Number.NEGATIVE_INFINITY;
  private workUntil = 0;

  constructor(private readonly budgetMs = TURN_BUDGET_MS) {}

  /** True while this turn's budget lasts and no burst of connections is being accepted. */
  available(): boolean {
    if (!this.counting) this.begin();
    if (this.accepting()) return false;
    return performance.now() - this.turnStart < this.budgetMs;
  }

  /** The server accepted a connection (its `connection` event). */
  noteAccept(): void {
    if (!this.counting) this.begin();
    this.acceptedIn = this.turns;
    this.acceptedAt = performance.now();
  }

  /**
   * True while the kernel's queue of new connections may still hold some: a connection was
   * accepted in this turn or the one before (libuv accepts one per turn) and requests have
   * waited for that less than ACCEPT_FIRST_MS.
   */
  accepting(): boolean {
    const now = performance.now();
    if (this.turns <= this.workTurn + 1 || now < this.workUntil) return false;
    if (this.turns - this.acceptedIn > 1 || now - this.acceptedAt > ACCEPT_FIRST_MS) {
      this.acceptingSince = undefined;
      return false;
    }
    this.acceptingSince ??= now;
    if (now - this.acceptingSince < ACCEPT_FIRST_MS) return true;
    // Requests have waited long enough: a turn of work (the steps of a pump run in the next one).
    this.acceptingSince = undefined;
    this.workTurn = this.turns;
    this.workUntil = now + this.budgetMs;
    return false;
  }

  /** Calls `fn` at the start of a later turn, with a fresh budget, in the order asked. */
  later(fn: () => void): void {
    this.waiting.push(fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.begin();
      const ready = this.waiting;
      this.waiting = [];
      for (const r of ready) r();
    });
  }

  /** Resolves at once while this turn's budget lasts, else at the start of a later turn. */
  async turn(): Promise<void> {
    if (this.available()) return;
    await new Promise<void>((resolve) => this.later(resolve));
  }

  private begin(): void {
    this.counting = true;
    this.turnStart = performance.now();
    setImmediate(this.endTurn);
  }

  /** The check phase after a counted turn's work: one function for every turn, not a closure each. */
  private readonly endTurn = (): void => {
    this.counting = false;
    this.turns++;
  };
}

/** The budget that every WebSocket frame queue and the HTTP request scheduler of the process share. */
export const turnBudget = new TurnBudget();
