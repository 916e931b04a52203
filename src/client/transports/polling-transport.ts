import type { PollResult } from '../../protocol/types.js';
import { PollLoopTransport } from './poll-loop-transport.js';
import type { TransportEvents, TransportSettings } from './transport.js';

/**
 * Short polling: `GET /api/rooms/:room/poll` every `pollIntervalMs` (at once while the server
 * says more entries wait). The simplest transport, and the one that gets through anything
 * that passes plain HTTP requests; latency is up to one interval.
 */
export class PollingTransport extends PollLoopTransport {
  readonly name = 'polling' as const;
  readonly quietMs: number;

  constructor(settings: TransportSettings, events: TransportEvents) {
    super(settings, events);
    this.quietMs = settings.pollIntervalMs + settings.openTimeoutMs;
  }

  protected first(cursor: string | undefined): Promise<PollResult> {
    return this.request('poll', cursor, this.settings.openTimeoutMs);
  }

  protected next(cursor: string): Promise<PollResult> {
    return this.request('poll', cursor, this.settings.openTimeoutMs);
  }

  protected pauseMs(): number {
    return this.settings.pollIntervalMs;
  }
}
