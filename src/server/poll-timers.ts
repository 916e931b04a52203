/** A held poll as PollTimers sees it: its deadline and its links in the queue of its timeout. */
export interface Timed {
  timerPrev: Timed | undefined;
  timerNext: Timed | undefined;
  /** The queue it waits in; undefined when in none. */
  timerQueue: object | undefined;
  /** When it expires (performance.now() milliseconds). */
  deadline: number;
  /** Called once when its deadline passes, unless it was let go first. */
  expire(): void;
}

/**
 * The timeouts of held long polls: one node timer per timeout length in use, not one per poll.
 * Polls of one length expire in the order they were held (their deadlines come in that order),
 * as node's own timers of one duration do; a poll let go before its deadline (most are: an entry
 * wakes them) costs an unlink, not a Timeout object made and cleared. A queue that empties stops
 * its timer, so nothing keeps the process alive once no poll is held, and leaves the map: a
 * client naming every timeout from 0 to 120,000 ms in turn leaves no queue behind.
 */
export class PollTimers {
  private readonly queues = new Map<number, TimeoutQueue>();
  private readonly emptied = (queue: TimeoutQueue): void => {
    if (this.queues.get(queue.ms) === queue) this.queues.delete(queue.ms);
  };

  /** Expires `t` in `ms` milliseconds (when not let go first). */
  add(t: Timed, ms: number): void {
    let queue = this.queues.get(ms);
    if (queue === undefined) this.queues.set(ms, (queue = new TimeoutQueue(ms, this.emptied)));
    queue.add(t);
  }

  /** Timeout lengths with a poll waiting (for tests). */
  get lengths(): number {
    return this.queues.size;
  }

  /** Lets go of `t` (again, or never added: nothing). */
  delete(t: Timed): void {
    (t.timerQueue as TimeoutQueue | undefined)?.delete(t);
  }

  /** Stops every timer; polls still held never expire (the hub closes). */
  clear(): void {
    for (const queue of this.queues.values()) queue.stop();
  }
}

/** Deadlines closer than this count as passed: a node timer may fire a little before them (its clock is the loop's). */
const EARLY_MS = 1;

/** The polls of one timeout length, by deadline (the order they came), and the one timer of the first. */
class TimeoutQueue {
  private first: Timed | undefined;
  private last: Timed | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly fire = (): void => this.expireDue();

  constructor(
    readonly ms: number,
    /** Told when its last poll left. */
    private readonly onEmpty: (queue: TimeoutQueue) => void,
  ) {}

  add(t: Timed): void {
    t.deadline = performance.now() + this.ms;
    t.timerQueue = this;
    t.timerPrev = this.last;
    t.timerNext = undefined;
    if (this.last === undefined) this.first = t;
    else this.last.timerNext = t;
    this.last = t;
    this.timer ??= setTimeout(this.fire, this.ms);
  }

  delete(t: Timed): void {
    if (t.timerQueue !== this) return;
    const { timerPrev: prev, timerNext: next } = t;
    if (prev === undefined) this.first = next;
    else prev.timerNext = next;
    if (next === undefined) this.last = prev;
    else next.timerPrev = prev;
    t.timerPrev = undefined;
    t.timerNext = undefined;
    t.timerQueue = undefined;
    if (this.first === undefined) {
      this.stop();
      this.onEmpty(this);
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expireDue(): void {
    this.timer = undefined;
    const now = performance.now();
    for (let t = this.first; t !== undefined && t.deadline <= now + EARLY_MS; t = this.first) {
      this.delete(t);
      t.expire();
    }
    // Re-armed for the first still waiting (an expiry may have stopped or restarted the timer meanwhile).
    if (this.first !== undefined && this.timer === undefined) this.timer = setTimeout(this.fire, Math.max(0, this.first.deadline - now));
  }
}
