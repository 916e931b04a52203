import type { TurnBudget } from './turn-budget.js';

/** Options of {@link RequestScheduler}. */
export interface RequestSchedulerOptions {
  /** The per-turn budget shared with the WebSocket frame queues. */
  budget: TurnBudget;
  /** Requests of one address that may wait for a turn; past it `run` returns false. */
  maxWaitingPerAddress: number;
}

/** One address's waiting requests. */
interface AddressQueue {
  /** The requests, oldest first, and when each came (performance.now()). */
  readonly runs: (() => void)[];
  readonly came: number[];
  /** When its last request ran, since it began waiting (performance.now()). */
  servedAt: number;
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
  private readonly queues = new Map<string, AddressQueue>();
  private waiting = 0;
  /** How long the request run last had waited for its address's turn, ms (turnWaitMs). */
  private turnWait = 0;
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
   * How long a client waits for its turn now, ms (DeliveryPace): what the request run last had
   * waited since it came or since its address's request before it ran, whichever was later; 0
   * while none waits. That is the time of a round of the addresses waiting: one address with
   * hundreds of requests waiting waits for itself, not for its turn, and does not move it.
   */
  turnWaitMs(): number {
    return this.waiting === 0 ? 0 : this.turnWait;
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
      queue = { runs: [], came: [], servedAt: Number.NEGATIVE_INFINITY };
      this.queues.set(address, queue);
    }
    if (queue.runs.length >= this.options.maxWaitingPerAddress) return false;
    queue.runs.push(fn);
    queue.came.push(performance.now());
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
      const fn = queue.runs.shift()!;
      const now = performance.now();
      this.turnWait = now - Math.max(queue.came.shift()!, queue.servedAt);
      queue.servedAt = now;
      // The address goes to the back of the round: one request per address per round (alone in
      // the round, it stays where it is: a Map deleted from and added to at every request churns).
      if (queue.runs.length === 0) this.queues.delete(address);
      else if (this.queues.size > 1) {
        this.queues.delete(address);
        this.queues.set(address, queue);
      }
      if (--this.waiting === 0) this.turnWait = 0;
      fn();
    }
    if (!last) return;
    if (this.waiting > 0) this.options.budget.later(() => this.pump());
    else this.draining = false;
  }
}

/** Waiting requests started in one turn at most (each in an immediate of its own). */
const STEPS_PER_TURN = 64;
