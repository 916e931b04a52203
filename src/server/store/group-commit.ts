/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  /** Most items one batch holds; reaching it runs the batch at once instead of on the next turn. */
  maxBatchSize: number;
  /**
   * Longest a batch waits for more items while they keep coming, in ms: it waits no longer than
   * the recent batches took to run (an average), and never more than this.
   */
  maxWaitMs: number;
}

/** How many batches ran and how many items they held, since the queue was made. */
export interface GroupCommitStats {
  /** Batches run (committed or failed). */
  commits: number;
  /** Items submitted to those batches. */
  items: number;
  /** Items of the largest batch. */
  largestBatch: number;
}

/**
 * Runs one batch: every item, in the order given, inside one transaction. Returns one outcome per
 * item, in the same order: its result, or the error that item alone fails with (the others still
 * commit). Throws when the batch as a whole failed (nothing of it stored): every item is then
 * rejected with what `onBatchError` makes of that error.
 */
export type BatchRunner<T, R> = (items: readonly T[]) => ReadonlyArray<{ ok: true; value: R } | { ok: false; error: unknown }>;

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
 * and items keep their order within a batch.
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
  private readonly counters: GroupCommitStats = { commits: 0, items: 0, largestBatch: 0 };

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
      if (this.queue.length >= this.options.maxBatchSize) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        this.seen = this.queue.length;
        // setImmediate rather than a microtask: items that arrive from the same socket read, each
        // through a few awaits of its own, are all queued by then.
        setImmediate(this.tick);
      }
    });
  }

  private readonly tick = (): void => {
    const waited = performance.now() - this.firstQueuedAt;
    if (this.queue.length > this.seen && waited < Math.min(this.runMs, this.options.maxWaitMs)) {
      // More came during the last turn: more may come in the next one, and share the sync.
      this.seen = this.queue.length;
      setImmediate(this.tick);
      return;
    }
    this.scheduled = false;
    this.flush();
  };

  /** Runs what is queued now, synchronously (before another write, or on close). */
  flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.counters.commits++;
    this.counters.items += batch.length;
    this.counters.largestBatch = Math.max(this.counters.largestBatch, batch.length);
    let outcomes: ReturnType<BatchRunner<T, R>>;
    const started = performance.now();
    try {
      outcomes = this.runner(batch.map((p) => p.item));
      this.runMs = 0.8 * this.runMs + 0.2 * (performance.now() - started);
    } catch (err) {
      const error = this.onBatchError(err);
      for (const p of batch) p.reject(error);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.ok) batch[i]!.resolve(outcome.value);
      else batch[i]!.reject(outcome.error);
    }
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
