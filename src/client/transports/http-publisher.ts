import type { Ack, PresenceMember } from '../../protocol/types.js';
import { httpRequest, type HttpTarget } from '../http-request.js';
import type { TransportSettings } from './transport.js';

/**
 * The client-to-server half of the HTTP transports (SSE, long polling, short polling), whose
 * server-to-client half cannot carry requests: publish, typing and presence over the REST API,
 * named with this transport's connection id so the server ties them to it.
 */
export class HttpPublisher {
  constructor(
    private readonly settings: TransportSettings,
    private readonly target: HttpTarget,
    private readonly connectionId: string,
    private readonly signal: AbortSignal,
  ) {}

  /** `POST /api/rooms/:room/messages`. Rejects like httpRequest (CLOSED once the transport is closed). */
  publish(text: string, clientId: string): Promise<Ack> {
    const { room, name, member, publishTimeoutMs } = this.settings;
    return httpRequest<Ack>(this.target, {
      method: 'POST',
      path: `/api/rooms/${encodeURIComponent(room)}/messages`,
      body: { text, clientId, name, member, connectionId: this.connectionId },
      timeoutMs: publishTimeoutMs,
      signal: this.signal,
    });
  }

  /** `POST /api/rooms/:room/typing`, fire and forget: a lost typing notice does not matter. */
  typing(): void {
    const { room, name, member, publishTimeoutMs } = this.settings;
    httpRequest(this.target, {
      method: 'POST',
      path: `/api/rooms/${encodeURIComponent(room)}/typing`,
      body: { name, member },
      timeoutMs: publishTimeoutMs,
      signal: this.signal,
    }).catch(() => undefined);
  }

  /** `GET /api/rooms/:room/presence`: the members present now. */
  async presence(timeoutMs: number): Promise<PresenceMember[]> {
    const answer = await httpRequest<{ members: PresenceMember[] }>(this.target, {
      method: 'GET',
      path: `/api/rooms/${encodeURIComponent(this.settings.room)}/presence`,
      timeoutMs,
      signal: this.signal,
    });
    return answer.members;
  }
}
