/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up. One per principal and
 * budget (see session/limits.ts), so a flood from one client cannot starve the others.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
    this.last = performance.now();
  }

  /** Takes a token; false when the bucket is empty (the caller refuses the action). */
  take(now = performance.now()): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes `n` more tokens for work already done (its cost known only once done), into debt down
   * to `-burst`: the next takes are refused until the bucket refilled past it. Returns the
   * seconds until the bucket is out of debt (0 when it is not in debt).
   */
  charge(n: number, now = performance.now()): number {
    this.refill(now);
    this.tokens = Math.max(-this.burst, this.tokens - n);
    return this.tokens < 0 ? -this.tokens / this.rate : 0;
  }

  /**
   * Adds what accrued since the last call. A `now` before it (a time read before this bucket was
   * made: Limits.take reads it first) adds nothing: a negative time took tokens away, and a new
   * bucket of one token (`--rate-burst 1`, `--rooms-per-day 1`) refused its first take.
   */
  private refill(now: number): void {
    if (now <= this.last) return;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Seconds until the next token (0 when one is there). */
  secondsUntilNext(now = performance.now()): number {
    const tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate);
    return tokens >= 1 ? 0 : (1 - tokens) / this.rate;
  }

  /** True when the bucket is full again (the entry can be forgotten). */
  get idle(): boolean {
    return this.tokens + ((performance.now() - this.last) / 1000) * this.rate >= this.burst;
  }
}
