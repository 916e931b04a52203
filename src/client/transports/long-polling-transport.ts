import type { PollResult } from '../../protocol/types.js';
import { PollLoopTransport } from './poll-loop-transport.js';
import type { TransportEvents, TransportSettings } from './transport.js';

/** The server holds a long poll 25 s at most by default; we ask for no more. */
const MAX_HOLD_MS = 25_000;

/**
 * Long polling: `GET /api/rooms/:room/longpoll`, which the server holds until entries come
 * (or `timeout`), asked again at once after every answer. The hold is half the silence timeout
 * (at most 25 s), so a healthy transport always answers well within it.
 *
 * Opening asks `longpoll` with `timeout=0`, which answers at once: it proves the route gets
 * through whatever is in between before `auto` settles on it.
 */
export class LongPollingTransport extends PollLoopTransport {
  readonly name = 'long-polling' as const;
  readonly quietMs: number;
  private readonly holdMs: number;

  constructor(settings: TransportSettings, events: TransportEvents) {
    super(settings, events);
    this.holdMs = Math.max(1000, Math.min(MAX_HOLD_MS, Math.floor(settings.silenceTimeoutMs / 2)));
    this.quietMs = this.holdMs + settings.openTimeoutMs;
  }

  protected first(cursor: string | undefined): Promise<PollResult> {
    return this.request('longpoll', cursor, this.settings.openTimeoutMs, { timeout: 0 });
  }

  protected next(cursor: string): Promise<PollResult> {
    return this.request('longpoll', cursor, this.holdMs + this.settings.openTimeoutMs, { timeout: this.holdMs });
  }

  protected pauseMs(): number {
    return 0;
  }
}
