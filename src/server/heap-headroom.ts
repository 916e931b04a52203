import v8 from 'node:v8';

/**
 * What one held long poll makes a broadcast promote to the old generation: its answer's
 * remains, and the next request, held until the next broadcast (its request and response
 * objects, its session): 25-35 MB at 10,000 pollers (docs/operations.md, "Memory and GC"), with
 * half as much again to spare.
 */
export const HELD_POLL_PROMOTION_BYTES = 5 * 1024;

/** V8's old generation may grow by at most this percent past what survived (a factor of 2). */
export const MAX_GROWING_PERCENT = 100;

/** How often the headroom is looked at (held polls come and go with each broadcast). */
const INTERVAL_MS = 1000;

/**
 * The headroom is raised only when what one broadcast promotes is more than this many times the
 * start's: it would then mark the whole heap that many times per broadcast. Under it, a broadcast
 * costs one major collection at most, raised or not, and the raise only kept more garbage:
 * 50,000 connections over 3 workers (some 3,300 polls each, a raise from 15 to 20), 1,000 rooms,
 * after a 30 s idle in which the long polls timed out: 771 and 784 MB raised against 737 and 744
 * MB not, broadcast p99 635 and 969 ms against 479 and 499 ms (docs/operations.md, "Memory and GC").
 */
export const RAISE_PAST = 2;

/**
 * The old generation's growth past its live part (`--heap-growing-percent`) that `held` long
 * polls need: `base` (the operator's, or DEFAULT_V8_FLAGS' 15), or as much as one broadcast to
 * them promotes, when that is more than RAISE_PAST times `base`; at most MAX_GROWING_PERCENT.
 * `liveBytes`: the heap's live part, about. Steps of 5, so that a few polls more or less change
 * nothing.
 */
export function growingPercent(base: number, held: number, liveBytes: number): number {
  if (held <= 0 || liveBytes <= 0) return base;
  const needed = Math.ceil(((held * HELD_POLL_PROMOTION_BYTES * 100) / liveBytes) / 5) * 5;
  if (needed <= RAISE_PAST * base) return base;
  return Math.min(MAX_GROWING_PERCENT, needed);
}

/** The `--heap-growing-percent` the process was started with (its command line), or undefined when none, or 0 (V8's own growth). */
export function startingGrowingPercent(execArgv: readonly string[] = process.execArgv): number | undefined {
  for (const arg of execArgv) {
    const m = /^--heap[-_]growing[-_]percent=(\d+)$/.exec(arg);
    if (m) return Number(m[1]) > 0 ? Number(m[1]) : undefined;
  }
  return undefined;
}

/** Samples remembered (one a second): the held polls' peak for the heap in use over this window. */
const WINDOW = 30;

/**
 * Keeps V8's cap on the old generation's growth (`--heap-growing-percent`, set at start by the
 * operator or by DEFAULT_V8_FLAGS: a low one keeps the idle memory of many connections low) from
 * turning every broadcast to many held long polls into major collections. A broadcast answers
 * the held polls at once, and their next requests, held until the next broadcast, are promoted
 * together: at 10,000 pollers some 30 MB, which a headroom of 15% of the live heap cannot hold,
 * so each broadcast marked the whole heap two or three times (on V8's helper threads: 1.0-1.4 s
 * of CPU per broadcast, as much as the rest of the work). While long polls are held, the
 * headroom is raised to what one broadcast to them promotes (growingPercent), and it comes back
 * down once they are gone. V8 reads the flag when it sets the next limit, at the end of each
 * major collection, so a change applies from the next one on.
 *
 * Looked at once a second, over the last WINDOW seconds: the sample where the polls held were the
 * most for the heap in use (a broadcast answers them all, and for a moment few are held: the
 * headroom does not drop then; the heap in use is about what is live at its lowest, just after a
 * collection). One sample, not the most polls of one and the least heap of another: while
 * connections come (the heap growing with them), those came from moments half a minute apart,
 * and the raise was as if all the polls of now were held in the heap of then (50,000
 * connections over 3 workers: a raise to 45 or more where 20 was needed).
 *
 * Only for a process started with the flag (`npm start`, the workers of `--workers`), unless
 * `--no-heap-headroom` says to keep it fixed: an application that embeds the server keeps its
 * own heap settings. The flag is the process's:
 * two servers in one such process would each set it, the last one's winning.
 */
export class HeapHeadroom {
  private current: number;
  private readonly held: number[] = [];
  private readonly used: number[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    /** The percent the process was started with: the floor. */
    private readonly base: number,
    /** Long polls held on this process now. */
    private readonly heldNow: () => number,
    private readonly setFlag: (flag: string) => void = (flag) => v8.setFlagsFromString(flag),
    private readonly heapUsed: () => number = () => v8.getHeapStatistics().used_heap_size,
  ) {
    this.current = base;
    this.timer = setInterval(() => this.adjust(), INTERVAL_MS);
    this.timer.unref();
  }

  /** The percent in force now (for /metrics). */
  get percent(): number {
    return this.current;
  }

  /** Takes a sample and sets the percent the window's held polls need, when it changed. */
  adjust(): void {
    this.held.push(this.heldNow());
    this.used.push(this.heapUsed());
    if (this.held.length > WINDOW) {
      this.held.shift();
      this.used.shift();
    }
    let best = 0;
    for (let i = 1; i < this.held.length; i++) if (this.held[i]! * this.used[best]! > this.held[best]! * this.used[i]!) best = i;
    const next = growingPercent(this.base, this.held[best]!, this.used[best]!);
    if (next === this.current) return;
    this.current = next;
    this.setFlag(`--heap-growing-percent=${next}`);
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.current !== this.base) this.setFlag(`--heap-growing-percent=${this.base}`);
    this.current = this.base;
  }
}
