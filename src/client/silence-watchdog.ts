export interface SilenceWatchdogOptions {
  /** A connection that shows no activity for this long is thought dead. */
  silenceMs: number;
  onSilent: (silentForMs: number) => void;
  /** The timer fired much later than asked: the tab was throttled or the machine slept. */
  onThrottled: (gapMs: number) => void;
  now?: () => number;
}

/**
 * Notices a connection that went silent without closing (a cable pulled, a NAT that forgot the
 * flow, a laptop that slept): no close event ever comes then, only silence.
 *
 * It ticks every `silenceMs / 4` (250 ms to 5 s) and compares wall-clock time: activity older
 * than `silenceMs` means dead. A tick that comes far later than scheduled means timers were
 * throttled (a background tab) or the process was suspended; the connection may have died
 * unseen meanwhile, so the owner is told to check it at once rather than wait another period.
 */
export class SilenceWatchdog {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastTick = 0;
  /** Wall-clock time of the last sign of life. */
  lastActivity = 0;
  readonly tickMs: number;
  private readonly now: () => number;

  constructor(private readonly options: SilenceWatchdogOptions) {
    this.tickMs = Math.min(5000, Math.max(250, Math.floor(options.silenceMs / 4)));
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.stop();
    this.lastActivity = this.lastTick = this.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  activity(): void {
    this.lastActivity = this.now();
  }

  get silentForMs(): number {
    return this.now() - this.lastActivity;
  }

  /** One check; the interval calls it, tests may too. */
  tick(): void {
    const now = this.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    // Twice the period plus a second: ordinary event-loop jitter never gets that late.
    if (gap > this.tickMs * 2 + 1000) this.options.onThrottled(gap);
    if (this.timer === undefined) return;
    const silent = now - this.lastActivity;
    if (silent > this.options.silenceMs) this.options.onSilent(silent);
  }
}
