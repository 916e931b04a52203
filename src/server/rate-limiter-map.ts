import { RateLimiter } from './rate-limiter.js';

/** Token buckets by key (member id or address) for HTTP clients, which have no connection to hang one on. Idle buckets are forgotten. */
export class RateLimiterMap {
  private readonly buckets = new Map<string, RateLimiter>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  take(key: string): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size > 10_000) this.prune();
      this.buckets.set(key, (bucket = new RateLimiter(this.rate, this.burst)));
    }
    return bucket.take();
  }

  private prune(): void {
    for (const [key, bucket] of this.buckets) if (bucket.idle) this.buckets.delete(key);
  }
}
