/** A distribution in a few numbers, plus its histogram on log-spaced bins (for the report's charts). */
export interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Upper edges of the bins, ms; counts[i] values fell in (edges[i-1], edges[i]]. */
  edges: number[];
  counts: number[];
}

/** Bins from 0.1 ms to about 100 s, 8 per decade. */
const EDGES = Array.from({ length: 49 }, (_, i) => Number((0.1 * 10 ** (i / 8)).toPrecision(3)));

export function distribution(values: ArrayLike<number>): Distribution {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number): number => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
  const counts = new Array<number>(EDGES.length).fill(0);
  let bin = 0;
  for (const v of sorted) {
    while (bin < EDGES.length - 1 && v > EDGES[bin]!) bin++;
    counts[bin]!++;
  }
  return { n: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN, edges: EDGES, counts };
}

/** "p50 1.2 ms  p99 34.5 ms (n 1000)" */
export function describe(d: Distribution): string {
  return d.n === 0 ? 'none' : `p50 ${ms(d.p50)}  p99 ${ms(d.p99)}  max ${ms(d.max)} (n ${d.n})`;
}

export function ms(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
