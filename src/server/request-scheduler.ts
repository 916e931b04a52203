import type { TurnBudget } from './turn-budget.js';

/** Options of {@link RequestScheduler}. */
export interface RequestSchedulerOptions {
  /** The per-turn budget shared with the WebSocket frame queues. */
  budget: TurnBudget;
  /** Requests of one address that may wait for a turn; past it `run` returns false. */
  maxWaitingPerAddress: number;
}

/**
 * Runs HTTP requests within the process's per-turn budget, fairly between client addresses.
 * While the budget of the turn lasts and nobody waits, a request runs at once. Past it, requests
 * wait in one queue per address, and later turns serve the queues round-robin, one request per
 * address per round: hundreds of requests from one address (read by the server in one poll)
 * delay the others' by a turn or two, not by the time all of them take.
 */
export class RequestScheduler {
  /** Waiting requests by address; a Map keeps the round-robin order of first arrival. */
  private readonly queues = new Map<string, (() => void)[]>();
  private waiting = 0;
  /** Since when requests of two addresses or more have waited without a break (performance.now()); undefined while they do not. */
  private crowdSince: number | undefined;
  private draining = false;
  /** Steps of this turn not run yet, and whether the next is the turn's first. */
  private steps = 0;
  private firstStep = false;
  /** One callback for every step of a turn (they run in order). */
  private readonly nextStep = (): void => {
    const first = this.firstStep;
    this.firstStep = false;
    this.step(first, --this.steps === 0);
  };

  constructor(private readonly options: RequestSchedulerOptions) {}

  /**
   * True when a request would run at once (nobody waits and the turn's budget lasts): the caller
   * may run it itself, with no callback made for it. Counts against the turn like `run`.
   */
  runsNow(): boolean {
    return this.waiting === 0 && this.options.budget.available();
  }

  /** How many requests wait for a turn. */
  get size(): number {
    return this.waiting;
  }

  /**
   * For how long requests of two client addresses or more have waited for a turn without a
   * break, ms: 0 while they do not (DeliveryPace). One address alone (a flood of its requests)
   * does not count: its requests wait for each other, and the others' are served each round.
   */
  backlogMs(): number {
    return this.crowdSince === undefined ? 0 : performance.now() - this.crowdSince;
  }

  /**
   * Runs `fn` now or in a later turn. Returns false, and never runs `fn`, when `address` already
   * has `maxWaitingPerAddress` requests waiting: the caller refuses the request.
   */
  run(address: string, fn: () => void): boolean {
    if (this.runsNow()) {
      fn();
      return true;
    }
    let queue = this.queues.get(address);
    if (queue === undefined) {
      queue = [];
      this.queues.set(address, queue);
      if (this.queues.size === 2) this.crowdSince = performance.now();
    }
    if (queue.length >= this.options.maxWaitingPerAddress) return false;
    queue.push(fn);
    this.waiting++;
    if (!this.draining) {
      this.draining = true;
      this.options.budget.later(() => this.pump());
    }
    return true;
  }

  /**
   * Runs waiting requests in the next check phase, each in an immediate of its own, so that the
   * promise continuations of one (its body read, its store call) run, and count against the
   * budget, before the next one starts.
   */
  private pump(): void {
    // New connections are accepted first (TurnBudget): no steps that would only find that out.
    if (this.options.budget.accepting()) {
      this.options.budget.later(() => this.pump());
      return;
    }
    this.steps = Math.min(this.waiting, STEPS_PER_TURN);
    this.firstStep = true;
    // No closure per waiting request.
    for (let i = 0; i < this.steps; i++) setImmediate(this.nextStep);
  }

  /**
   * Runs the next request in round-robin order while the budget lasts (the first step of a turn
   * runs one whatever the budget says, so that the queue always moves, unless new connections
   * are being accepted first: TurnBudget); the last step of a turn
   * schedules the next.
   */
  private step(first: boolean, last: boolean): void {
    if (this.waiting > 0 && (this.options.budget.available() || (first && !this.options.budget.accepting()))) {
      // keys(), not entries(): no [address, queue] pair made per request.
      const address = this.queues.keys().next().value as string;
      const queue = this.queues.get(address)!;
      const fn = queue.shift()!;
      // The address goes to the back of the round: one request per address per round (alone in
      // the round, it stays where it is: a Map deleted from and added to at every request churns).
      if (queue.length === 0) {
        this.queues.delete(address);
        if (this.queues.size === 1) this.crowdSince = undefined;
      } else if (this.queues.size > 1) {
        this.queues.delete(address);
        this.queues.set(address, queue);
      }
      this.waiting--;
      fn();
    }
    if (!last) return;
    if (this.waiting > 0) this.options.budget.later(() => this.pump());
    else this.draining = false;
  }
}

/** Waiting requests started in one turn at most (each in an immediate of its own). */
const STEPS_PER_TURN = 64;
