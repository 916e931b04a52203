/** Reconnect backoff settings (milliseconds). */
export interface BackoffOptions {
  /** Ceiling of the first delay. */
  initialDelayMs: number;
  /** The ceiling never grows past this. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 15_000 };

/**
 * The delay before reconnect attempt number `attempt` (0 for the first): exponential backoff
 * with full jitter, uniform in `[0, min(maxDelayMs, initialDelayMs * 2^attempt))`.
 * Full jitter spreads a crowd of clients that lost the same server over the whole window, so
 * they do not all come back in the same instant. Pure: `random` is injectable for tests.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2^30 is past any sane ceiling; capping the exponent keeps the product finite.
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.floor(random() * Math.max(0, ceiling));
}
