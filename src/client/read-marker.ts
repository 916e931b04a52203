import { SwitchboardError } from '../protocol/errors.js';
import { isRetryablePublishFailure, toClientError, type ClientError } from './errors.js';

export interface ReadMarkerOptions {
  /** True while a transport is connected and may take a request. */
  canSend: () => boolean;
  /**
   * Sends one position; resolves with the position stored. A retryable failure must also make
   * `canSend` false until a new transport is up (as for the outbox).
   */
  send: (seq: number) => Promise<number>;
  /** Wait after RATE_LIMITED before asking again. */
  rateLimitDelayMs?: number;
  /** The fewest ms between two requests (default READ_MARK_INTERVAL_MS). */
  minIntervalMs?: number;
}

/**
 * The fewest ms between two positions sent. The server tells the others a member's position at
 * most once a second anyway, and counts positions against the member's typing rate (5 a second
 * by default): a reader that marks each message of a busy room read as it comes sent one per
 * message (18 in 1.6 s, measured) and had its typing notices refused.
 */
export const READ_MARK_INTERVAL_MS = 1000;

interface Waiter {
  resolve: (seq: number) => void;
  reject: (err: ClientError) => void;
}

/**
 * `markRead` calls, coalesced: one request at a time, at most one per `minIntervalMs`, carrying
 * the highest position asked for; the calls made while one is on its way, or while the next
 * waits for its turn, are answered together by the next one. A position at or
 * below one known to be stored (an answer, or a receipt of this member from another tab)
 * resolves at once with that position, without a request. While no transport is up, the
 * position waits and is sent once one is; a refusal (FORBIDDEN...) rejects the calls it answered.
 */
export class ReadMarker {
  private stored = 0;
  private wanted = 0;
  private waiters: Waiter[] = [];
  private running = false;
  /** When the last request went out (Date.now()). */
  private sentAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ReadMarkerOptions) {}

  /** The highest position known to be stored. */
  get position(): number {
    return this.stored;
  }

  mark(seq: number): Promise<number> {
    if (seq <= this.stored) return Promise.resolve(this.stored);
    this.wanted = Math.max(this.wanted, seq);
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.flush();
    });
  }

  /** A stored position learnt otherwise (a `receipt` of this member). */
  saw(seq: number): void {
    if (seq <= this.stored) return;
    this.stored = seq;
    if (this.wanted <= seq && !this.running) this.settle(this.waiters.splice(0), seq);
  }

  /** Sends what waits, if a transport is up. Safe to call any time. */
  flush(): void {
    if (this.running || this.waiters.length === 0 || !this.options.canSend()) return;
    this.running = true;
    void this.run();
  }

  rejectAll(err: ClientError): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private async run(): Promise<void> {
    let failuresInARow = 0;
    try {
      while (this.waiters.length > 0 && this.options.canSend()) {
        const wait = this.sentAt + (this.options.minIntervalMs ?? READ_MARK_INTERVAL_MS) - Date.now();
        if (wait > 0) {
          await sleep(wait);
          // Meanwhile another tab may have stored as much (a receipt: saw).
          if (this.wanted <= this.stored) this.settle(this.waiters.splice(0), this.stored);
          continue;
        }
        const seq = this.wanted;
        const batch = this.waiters.splice(0);
        this.sentAt = Date.now();
        try {
          const stored = await this.options.send(seq);
          failuresInARow = 0;
          this.stored = Math.max(this.stored, stored);
          this.settle(batch, stored);
        } catch (raw) {
          const err = toClientError(raw);
          if (err instanceof SwitchboardError && err.code === 'RATE_LIMITED') {
            this.waiters.unshift(...batch);
            await sleep(this.options.rateLimitDelayMs ?? 1000);
          } else if (isRetryablePublishFailure(err)) {
            this.waiters.unshift(...batch);
            if (++failuresInARow >= 3) await sleep(1000);
          } else {
            for (const w of batch) w.reject(err);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  private settle(batch: Waiter[], seq: number): void {
    for (const w of batch) w.resolve(seq);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
