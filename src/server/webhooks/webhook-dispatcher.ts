import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import { createWebhookEvent, WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './webhook-event.js';
import { signWebhook, WEBHOOK_HEADERS } from './webhook-signature.js';

export interface WebhookDispatcherOptions {
  /** The receiver; http: or https:. Redirects are not followed. */
  url: string;
  /** Key of the HMAC in `x-switchboard-signature`. */
  secret: string;
  /** The types sent; others are ignored by `emit`. Default: every type but `message.published`, which is opt-in (it is by far the most frequent). */
  events?: ReadonlySet<WebhookEventType>;
  /** Events waiting to be sent, not counting those in flight or waiting for a retry. Default 10,000. */
  maxQueue?: number;
  /** POSTs of one event before it is given up. Default 8. */
  maxAttempts?: number;
  /** Delay before the first retry, doubling after each, capped at 60 s, with jitter (half to all of it). Default 500. */
  backoffMs?: number;
  /** Time allowed to one POST, up to the response headers. Default 5000. */
  timeoutMs?: number;
  /** Events in flight at once (each holds its slot through its retries). Default 4. */
  concurrency?: number;
  logger: Logger;
  /**
   * Where the counters go: `switchboard_webhooks_{sent,failed,dropped}_total` (label `type`) and
   * the gauge `switchboard_webhooks_queue`. Dispatchers sharing a registry share (and sum into)
   * the same metrics. None: the counts are kept but not exported.
   */
  registry?: Registry;
}

const MAX_DELAY_MS = 60_000;
const DROP_LOG_INTERVAL_MS = 10_000;
const USER_AGENT = 'switchboard-webhooks';
const DEFAULT_EVENTS: ReadonlySet<WebhookEventType> = new Set(WEBHOOK_EVENT_TYPES.filter((t) => t !== 'message.published'));

type Outcome = { kind: 'sent' } | { kind: 'retry'; reason: string; retryAfterMs: number | undefined } | { kind: 'final'; status: number } | { kind: 'stopped' };

/**
 * Sends server events to one HTTP endpoint as signed JSON POSTs (see `verifyWebhook`), so an
 * application can notify users who are offline.
 *
 * The contract:
 * - `emit` never blocks and never throws: it queues in O(1) and returns; the POSTs happen later,
 *   off the caller's path.
 * - Delivery is at least once while the process lives: an event is retried (network error,
 *   timeout, 408, 429, 5xx) until a 2xx, until another status (final: counted as failed), or
 *   until `maxAttempts` (given up: counted as failed). A retry carries the same `id`, so the
 *   receiver deduplicates on it. Nothing is persisted: events queued when the process dies are lost.
 * - Ordering is best effort FIFO: events leave the queue in order, but with `concurrency` > 1 or
 *   a retry, a later event can arrive first. Receivers order by `ts` if they care.
 * - The queue is bounded by `maxQueue`: when full, the OLDEST queued event is dropped for the new
 *   one (counted in `switchboard_webhooks_dropped_total`, a warning at most every 10 s). Events
 *   emitted after `close`, and those still pending at its deadline, are dropped too.
 * - Its timers are unref'd: it never keeps the process alive, except `close`'s own deadline.
 */
export class WebhookDispatcher {
  private readonly url: string;
  private readonly secret: string;
  private readonly events: ReadonlySet<WebhookEventType>;
  private readonly maxAttempts: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly logger: Logger;
  private readonly queue: Ring<WebhookEvent>;

  private readonly sent: Counter<'type'>;
  private readonly failed: Counter<'type'>;
  private readonly dropped: Counter<'type'>;
  private readonly queued: Gauge;

  private inFlight = 0;
  private pumpScheduled = false;
  private accepting = true;
  /** Set at the close deadline: nothing more is attempted. */
  private stopped = false;
  private closing: Promise<void> | undefined;
  private readonly attempts = new Set<AbortController>();
  private readonly sleepers = new Set<(elapsed: boolean) => void>();
  private idleWaiters: (() => void)[] = [];
  private unloggedDrops = 0;
  private dropLogTimer: NodeJS.Timeout | undefined;

  /** Throws a TypeError or RangeError on a bad option (at start-up, never later). */
  constructor(options: WebhookDispatcherOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`webhook url must be http: or https:, got ${url.protocol}`);
    if (!options.secret) throw new TypeError('webhook secret must not be empty');
    this.url = url.href;
    this.secret = options.secret;
    this.events = options.events ?? DEFAULT_EVENTS;
    this.maxAttempts = positiveInteger('maxAttempts', options.maxAttempts ?? 8);
    this.backoffMs = nonNegative('backoffMs', options.backoffMs ?? 500);
    this.timeoutMs = positiveInteger('timeoutMs', options.timeoutMs ?? 5000);
    this.concurrency = positiveInteger('concurrency', options.concurrency ?? 4);
    this.queue = new Ring(positiveInteger('maxQueue', options.maxQueue ?? 10_000));
    this.logger = options.logger;

    const registry = options.registry;
    this.sent = counter(registry, 'switchboard_webhooks_sent_total', 'Webhook events acknowledged with a 2xx, by type');
    this.failed = counter(registry, 'switchboard_webhooks_failed_total', 'Webhook events refused (non-retryable status) or given up after the last attempt, by type');
    this.dropped = counter(registry, 'switchboard_webhooks_dropped_total', 'Webhook events dropped unsent: queue full, emitted after close, or pending at the close deadline, by type');
    this.queued = (registry?.getSingleMetric('switchboard_webhooks_queue') as Gauge | undefined) ??
      new Gauge({ name: 'switchboard_webhooks_queue', help: 'Webhook events waiting to be sent (not in flight)', registers: registry ? [registry] : [] });
  }

  /**
   * Queues an event of `type` if that type is enabled; O(1), never throws. `data` is serialised
   * when the event is sent, so it is the dispatcher's from now on: do not change it afterwards.
   */
  emit(type: WebhookEventType, data: Record<string, unknown>): void {
    try {
      if (!this.events.has(type)) return;
      if (!this.accepting) {
        this.dropped.inc({ type });
        return;
      }
      const evicted = this.queue.push(createWebhookEvent(type, data));
      if (evicted) this.noteDrop(evicted.type);
      else this.queued.inc();
      this.schedule();
    } catch (err) {
      // A metrics or logger fault must not reach the caller, who is publishing a message.
      try {
        this.logger.error({ err, type }, 'webhook emit failed');
      } catch {}
    }
  }

  /**
   * Stops accepting events and sends what is queued or in flight, retries included, until
   * `deadlineMs`; then aborts the rest (counted as dropped, their number logged). Resolves when
   * nothing is left in flight; never rejects. Idempotent: later calls get the same promise.
   */
  close(deadlineMs = 2000): Promise<void> {
    this.closing ??= this.drain(deadlineMs);
    return this.closing;
  }

  private async drain(deadlineMs: number): Promise<void> {
    this.accepting = false;
    this.pump();
    if (!this.idle) {
      let timer: NodeJS.Timeout | undefined;
      // Not unref'd: the caller awaits this, and a flush that lets the process exit would lose events.
      const deadline = new Promise<false>((resolve) => (timer = setTimeout(resolve, deadlineMs, false)));
      const drained = await Promise.race([this.whenIdle().then(() => true), deadline]);
      clearTimeout(timer);
      if (!drained) {
        const left = this.queue.length + this.inFlight;
        this.stopped = true;
        for (let event = this.queue.shift(); event; event = this.queue.shift()) {
          this.queued.dec();
          this.dropped.inc({ type: event.type });
        }
        for (const attempt of this.attempts) attempt.abort();
        for (const wake of this.sleepers) wake(false);
        this.logger.warn({ left }, 'webhook close deadline reached: undelivered events dropped');
        await this.whenIdle();
      }
    }
    if (this.dropLogTimer) clearTimeout(this.dropLogTimer);
    this.dropLogTimer = undefined;
    this.logDrops();
  }

  private get idle(): boolean {
    return this.inFlight === 0 && this.queue.length === 0;
  }

  private whenIdle(): Promise<void> {
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts the workers on the next turn of the event loop, so `emit` does no I/O itself. */
  private schedule(): void {
    if (this.pumpScheduled || this.inFlight >= this.concurrency) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < this.concurrency) {
      const event = this.queue.shift();
      if (!event) break;
      this.queued.dec();
      this.inFlight++;
      void this.deliver(event)
        .catch((err: unknown) => this.logger.error({ err, id: event.id }, 'webhook delivery failed unexpectedly'))
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.idle) for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    }
  }

  /** Every attempt of one event, to its end. Never rejects. */
  private async deliver(event: WebhookEvent): Promise<void> {
    const { id, type } = event;
    let body: string;
    try {
      body = JSON.stringify(event);
    } catch (err) {
      this.logger.warn({ err, id, type }, 'webhook event not serialisable: not sent');
      this.failed.inc({ type });
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(event, body);
      switch (outcome.kind) {
        case 'sent':
          this.sent.inc({ type });
          return;
        case 'stopped':
          this.dropped.inc({ type });
          return;
        case 'final':
          this.logger.warn({ id, type, status: outcome.status }, 'webhook refused by the receiver: not retried');
          this.failed.inc({ type });
          return;
        case 'retry': {
          if (attempt >= this.maxAttempts) {
            this.logger.warn({ id, type, attempts: attempt, reason: outcome.reason }, 'webhook given up after its last attempt');
            this.failed.inc({ type });
            return;
          }
          const delayMs = Math.max(outcome.retryAfterMs ?? 0, this.backoff(attempt));
          this.logger.debug({ id, type, attempt, reason: outcome.reason, delayMs }, 'webhook attempt failed: retrying');
          if (!(await this.sleep(delayMs))) {
            this.dropped.inc({ type });
            return;
          }
        }
      }
    }
  }

  private async attempt(event: WebhookEvent, body: string): Promise<Outcome> {
    if (this.stopped) return { kind: 'stopped' };
    const timestamp = Math.floor(Date.now() / 1000);
    // One controller per attempt (not AbortSignal.any over a long-lived one, which leaks on Node 20):
    // aborted by close, or by the attempt's deadline. The deadline gives up only after the I/O
    // waiting at that moment is read (setImmediate from the timer; AbortSignal.timeout aborts in
    // the timer): when this process was busy past it, the loop runs the turn's timers before its
    // reads, and a response that came in time was taken for a timeout and the event sent twice.
    const controller = new AbortController();
    const deadline = setTimeout(() => setImmediate(() => controller.abort(new DOMException(`no response within ${this.timeoutMs} ms`, 'TimeoutError'))), this.timeoutMs);
    deadline.unref();
    this.attempts.add(controller);
    try {
      const response = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          [WEBHOOK_HEADERS.event]: event.type,
          [WEBHOOK_HEADERS.id]: event.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhook(this.secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: controller.signal,
      });
      // The status says it all; cancelling the body frees the connection.
      response.body?.cancel().catch(() => {});
      const { status } = response;
      if (status >= 200 && status < 300) return { kind: 'sent' };
      if (status === 408 || status === 429 || status >= 500) {
        return { kind: 'retry', reason: `HTTP ${status}`, retryAfterMs: parseRetryAfter(response.headers.get('retry-after')) };
      }
      return { kind: 'final', status };
    } catch (err) {
      if (this.stopped) return { kind: 'stopped' };
      return { kind: 'retry', reason: describe(err, this.timeoutMs), retryAfterMs: undefined };
    } finally {
      clearTimeout(deadline);
      this.attempts.delete(controller);
    }
  }

  /** Delay before retry number `attempt`: exponential, capped, jittered so that failed receivers are not hit in lockstep. */
  private backoff(attempt: number): number {
    const base = Math.min(MAX_DELAY_MS, this.backoffMs * 2 ** (attempt - 1));
    return base / 2 + (Math.random() * base) / 2;
  }

  /** Resolves true after `ms`, or false at once when the close deadline stops everything. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = (elapsed: boolean): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(elapsed);
      };
      const timer = setTimeout(wake, ms, true);
      timer.unref();
      this.sleepers.add(wake);
    });
  }

  private noteDrop(type: WebhookEventType): void {
    this.dropped.inc({ type });
    this.unloggedDrops++;
    if (this.dropLogTimer) return;
    this.logDrops();
    this.armDropLog();
  }

  /** At most one warning per interval; the drops of an interval are logged at its end. */
  private armDropLog(): void {
    this.dropLogTimer = setTimeout(() => {
      this.dropLogTimer = undefined;
      if (this.unloggedDrops === 0) return;
      this.logDrops();
      this.armDropLog();
    }, DROP_LOG_INTERVAL_MS);
    this.dropLogTimer.unref();
  }

  private logDrops(): void {
    if (this.unloggedDrops === 0) return;
    this.logger.warn({ dropped: this.unloggedDrops, maxQueue: this.queue.capacity }, 'webhook queue full: oldest events dropped');
    this.unloggedDrops = 0;
  }
}

/** A fixed-size FIFO; pushing onto a full one evicts the oldest. O(1) both ways. */
class Ring<T> {
  private readonly items: (T | undefined)[] = [];
  private head = 0;
  length = 0;

  constructor(readonly capacity: number) {}

  /** Adds at the tail; returns the evicted head when it was full. */
  push(item: T): T | undefined {
    const evicted = this.length === this.capacity ? this.shift() : undefined;
    this.items[(this.head + this.length) % this.capacity] = item;
    this.length++;
    return evicted;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    return item;
  }
}

function counter(registry: Registry | undefined, name: string, help: string): Counter<'type'> {
  const existing = registry?.getSingleMetric(name) as Counter<'type'> | undefined;
  return existing ?? new Counter({ name, help, labelNames: ['type'], registers: registry ? [registry] : [] });
}

/** Retry-After as delta seconds or an HTTP date, in ms, capped at 60 s; undefined when absent or unreadable. */
function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  return Number.isFinite(ms) ? Math.min(MAX_DELAY_MS, Math.max(0, ms)) : undefined;
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no response within ${timeoutMs} ms`;
  // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a certificate, a blocked port).
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`webhook ${name} must be a positive integer, got ${value}`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`webhook ${name} must be a non-negative number, got ${value}`);
  return value;
}
