/** The p-th percentile (0-100) by nearest rank; undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Sums per second over a sliding window (for the Compare charts): `add(bytes)` counts into the
 * current second, `series()` gives the last `seconds` sums, oldest first.
 */
export class PerSecond {
  private readonly buckets = new Map<number, number>();

  constructor(private readonly seconds = 60) {}

  add(value: number, at = Date.now()): void {
    const second = Math.floor(at / 1000);
    this.buckets.set(second, (this.buckets.get(second) ?? 0) + value);
  }

  series(now = Date.now()): number[] {
    const last = Math.floor(now / 1000);
    const out: number[] = [];
    for (let s = last - this.seconds + 1; s <= last; s++) out.push(this.buckets.get(s) ?? 0);
    for (const key of this.buckets.keys()) if (key <= last - this.seconds) this.buckets.delete(key);
    return out;
  }

  clear(): void {
    this.buckets.clear();
  }
}
