import type { StatusEvent } from 'switchboard-client';

/** How often a running countdown redraws: a second never shows more than a quarter late. */
const TICK_MS = 250;

/**
 * The time left before the SDK's next reconnect attempt, counted down. The SDK says the delay
 * once, as `retryInMs` of the `reconnecting` status that schedules the attempt (and says nothing
 * while it waits): a view that shows "Reconnecting in 3 s" has to count itself, or the 3 stays.
 * Shared by the chat's status pill and the Compare panes.
 *
 * `onTick` is called every 250 ms while an attempt is ahead, for the view to redraw; it is not
 * called for {@link update} itself (the view redraws after it anyway).
 */
export class RetryCountdown {
  private retryAt = 0;
  private timer: number | undefined;

  constructor(private readonly onTick: () => void) {}

  /** Follows a status: a `reconnecting` one with `retryInMs` starts a count, any other stops it. */
  update(status: StatusEvent | undefined): void {
    this.stop();
    if (status?.status !== 'reconnecting' || status.retryInMs === undefined) return;
    this.retryAt = Date.now() + status.retryInMs;
    this.timer = window.setInterval(() => {
      // The last tick draws the zero; later ones would draw it again for nothing.
      if (this.secondsLeft() === 0) window.clearInterval(this.timer);
      this.onTick();
    }, TICK_MS);
  }

  /** Whole seconds until the attempt, rounded up; 0 when none is ahead (or it is due). */
  secondsLeft(now = Date.now()): number {
    return this.retryAt ? Math.max(0, Math.ceil((this.retryAt - now) / 1000)) : 0;
  }

  /** What follows "Reconnecting": " in 3 s", or "…" when no attempt is ahead or it is under way. */
  suffix(now = Date.now()): string {
    const left = this.secondsLeft(now);
    return left > 0 ? ` in ${left} s` : '…';
  }

  /** Stops counting (call it when the view goes away). */
  stop(): void {
    window.clearInterval(this.timer);
    this.timer = undefined;
    this.retryAt = 0;
  }
}
