/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** Most items one batch holds; reaching it runs the batch at once instead of on the next turn. */
  maxBatchSize: number;
  /**
   * Longest a batch waits for more items while they keep coming, in ms: it waits no longer than
   * the recent batches took to run (an average), and never more than this.
   */
  maxWaitMs: number;
  /**
   * A batch the runner could not start because another process holds what it needs (a write
   * lock): `isBusy` tells that error apart. The batch is then tried again a little later (1 ms,
   * then up to 4 ms apart) with what came meanwhile, while the event loop goes on serving, for
   * up to `timeoutMs`; then it fails with `onBatchError`. Without this, such an error fails the
   * batch at once.
   */
  busy?: { isBusy: (error: unknown) => boolean; timeoutMs: number };
  /**
   * How long the first item of a batch waits for others before the batch runs, in ms (a timer
   * instead of the next turn): for writes whose answer may wait a little, so that items that
   * come one by one, each in a turn of its own, still share a sync (read positions: a member's
   * client sends one a second at most, and hundreds of members spread over the second were a
   * sync each). Default 0: the next turn.
   */
  lingerMs?: number;
}

/** How many batches ran and how many items they held, since the queue was made. */
export interface GroupCommitStats {
  /** Batches run (committed or failed). */
  commits: number;
  /** Items submitted to those batches. */
  items: number;
  /** Items of the largest batch. */
  largestBatch: number;
  /** Attempts that found what the runner needs held by another process (see GroupCommitOptions.busy), tried again later. */
  busyRetries: number;
}

/**
 * Runs one batch: every item, in the order given, inside one transaction. Returns one outcome per
 * item, in the same order: its result, or the error that item alone fails with (the others still
 * commit). Throws when the batch as a whole failed (nothing of it stored): every item is then
 * rejected with what `onBatchError` makes of that error, unless it is a busy error (see
 * GroupCommitOptions.busy) of a batch that may be tried again. `mayWait` false: the runner must not
 * block waiting for another process (it throws the busy error instead); true (a flush asked
 * from outside, which must have run when it returns): it may.
 */
export type BatchRunner<T, R> = (items: readonly T[], mayWait: boolean) => ReadonlyArray<{ ok: true; value: R } | { ok: false; error: unknown }>;

interface Pending<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * A group-commit queue: items submitted in the same event-loop turn share one batch, run on the
 * next turn (setImmediate), or at once when `maxBatchSize` are waiting. While items keep coming
 * turn after turn (a busy server), the batch waits for them up to about as long as a batch takes
 * to run (at most `maxWaitMs`), so that a slow sync is shared by more items. Each item's promise
 * settles only after the batch that holds it was run, so when the runner commits before it
 * returns, nothing is resolved before its commit. Batches run one at a time, in submission order,
 * and items keep their order within a batch. A batch that finds the write lock taken by another
 * process waits for it without blocking the event loop (GroupCommitOptions.busy): it is tried
 * again later, first in line, with what came meanwhile behind it.
 */
export class GroupCommit<T, R> {
  private queue: Pending<T, R>[] = [];
  private scheduled = false;
  /** When the oldest queued item came. */
  private firstQueuedAt = 0;
  /** Queue length at the last look: the queue grew since when it is longer now. */
  private seen = 0;
  /** How long batches take to run, in ms (a moving average). */
  private runMs = 0;
  private readonly counters: GroupCommitStats = { commits: 0, items: 0, largestBatch: 0, busyRetries: 0 };
  /** While the first batch in line waits for another process's lock: since when, its next try, and the tries so far. */
  private busySince: number | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private busyTries = 0;

  constructor(
    private readonly runner: BatchRunner<T, R>,
    private readonly onBatchError: (error: unknown) => unknown,
    private readonly options: GroupCommitOptions,
  ) {}

  /** Queues an item; resolves with its result once its batch ran, or rejects with its error or the batch's. */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.queue.length === 0) this.firstQueuedAt = performance.now();
      this.queue.push({ item, resolve, reject });
      // While waiting for another process's lock, items only queue up: the retry takes them.
      if (this.retryTimer) return;
      if (this.queue.length >= this.options.maxBatchSize) this.runQueued(false);
      else if (!this.scheduled) {
        this.seen = this.queue.length;
        this.schedule();
      }
    });
  }

  /**
   * Runs the queue later: after `lingerMs`, or on the next turn (setImmediate rather than a
   * microtask: items that arrive from the same socket read, each through a few awaits of its
   * own, are all queued by then).
   */
  private schedule(): void {
    this.scheduled = true;
    if (this.options.lingerMs) setTimeout(this.tick, this.options.lingerMs);
    else setImmediate(this.tick);
  }

  private readonly tick = (): void => {
    // A flush ran the queue meanwhile: nothing left to wait for.
    if (this.queue.length === 0) {
      this.scheduled = false;
      return;
    }
    const waited = performance.now() - this.firstQueuedAt;
    if (this.queue.length > this.seen && waited < Math.min(this.runMs, this.options.maxWaitMs)) {
      // More came during the last turn: more may come in the next one, and share the sync.
      this.seen = this.queue.length;
      setImmediate(this.tick);
      return;
    }
    this.scheduled = false;
    // Waiting for another process's lock: its retry runs the queue.
    if (!this.retryTimer) this.runQueued(false);
  };

  private readonly retry = (): void => {
    this.retryTimer = undefined;
    this.runQueued(false);
  };

  /**
   * Runs what is queued now, synchronously, waiting for another process's lock if it must
   * (before another write, or on close): when it returns, every item queued has its outcome.
   */
  flush(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.runQueued(true);
  }

  /** Runs the queue, a batch of at most maxBatchSize at a time; without `mayWait`, stops at a busy lock and tries again later. */
  private runQueued(mayWait: boolean): void {
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.options.maxBatchSize ? this.queue : this.queue.slice(0, this.options.maxBatchSize);
      this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
      if (!this.runBatch(batch, mayWait)) {
        // Busy: first in line again, with what came meanwhile behind it, and tried again soon.
        this.queue = batch.concat(this.queue);
        this.retryTimer = setTimeout(this.retry, Math.min(2 ** this.busyTries++, 4));
        return;
      }
    }
    if (this.queue.length > 0 && !this.scheduled && !this.retryTimer) this.schedule();
  }

  /** Runs one batch and settles its items; false (nothing settled) when it found the lock busy and may be tried again. */
  private runBatch(batch: Pending<T, R>[], mayWait: boolean): boolean {
    let outcomes: ReturnType<BatchRunner<T, R>>;
    const started = performance.now();
    try {
      outcomes = this.runner(
        batch.map((p) => p.item),
        mayWait,
      );
    } catch (err) {
      const busy = this.options.busy;
      if (!mayWait && busy?.isBusy(err)) {
        this.busySince ??= started;
        if (started - this.busySince < busy.timeoutMs) {
          this.counters.busyRetries++;
          return false;
        }
      }
      this.count(batch.length);
      const error = this.onBatchError(err);
      for (const p of batch) p.reject(error);
      return true;
    }
    this.count(batch.length);
    this.runMs = 0.8 * this.runMs + 0.2 * (performance.now() - started);
    for (let i = 0; i < batch.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) batch[i]!.resolve(outcome.value);
      else batch[i]!.reject(outcome.error);
    }
    return true;
  }

  /** A batch that ran (committed or failed): counted, and the wait for a busy lock over. */
  private count(items: number): void {
    this.busySince = undefined;
    this.busyTries = 0;
    this.counters.commits++;
    this.counters.items += items;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, items);
  }

  /** Items waiting for their batch. */
  get pending(): number {
    return this.queue.length;
  }

  /** A copy of the counters. */
  stats(): GroupCommitStats {
    return { ...this.counters };
  }
}
