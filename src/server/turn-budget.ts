/** Milliseconds of client work (WebSocket frames, HTTP requests), all clients together, run in one turn of the event loop. */
export const TURN_BUDGET_MS = 5;

/**
 * One budget of client work per event-loop turn, shared by every connection of the process.
 * Work that needs no I/O (a refused frame, a refused request) runs without yielding, so without
 * it a burst on many connections, or hundreds of requests read in one poll, would run to its end
 * before any other client (a health check) is served. A turn is counted from the first piece of
 * client work until the loop's next check phase; past the budget, work waits for a later turn
 * (`setImmediate`: after the I/O read meanwhile, other clients' requests among it, was served).
 */
export class TurnBudget {
  private turnStart = 0;
  /** True from the first work of a turn until the check phase that ends it. */
  private counting = false;
  private waiting: (() => void)[] = [];
  private scheduled = false;

  constructor(private readonly budgetMs = TURN_BUDGET_MS) {}

  /** True while this turn's budget lasts. */
  available(): boolean {
    if (!this.counting) this.begin();
    return performance.now() - this.turnStart < this.budgetMs;
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
    setImmediate(() => (this.counting = false));
  }
}

/** The budget that every WebSocket frame queue and the HTTP request scheduler of the process share. */
export const turnBudget = new TurnBudget();
