import type { Ack, MessagePayload, PresenceMember } from '../../protocol/types.js';
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
  publish(message: MessagePayload, clientId: string): Promise<Ack> {
    const { room, name, member, publishTimeoutMs } = this.settings;
    const { text, data, event } = message;
    return httpRequest<Ack>(this.target, {
      method: 'POST',
      path: `/api/rooms/${encodeURIComponent(room)}/messages`,
      body: { text, data, event, clientId, name, member, connectionId: this.connectionId },
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

  /**
   * `POST /api/rooms/:room/presence`: joins the room's presence (polling has no connection to
   * be present through). Resolves with the members present and the ticket each poll carries.
   */
  async join(timeoutMs: number): Promise<{ members: PresenceMember[]; session: string }> {
    const { room, name, member } = this.settings;
    return httpRequest<{ members: PresenceMember[]; session: string }>(this.target, {
      method: 'POST',
      path: `/api/rooms/${encodeURIComponent(room)}/presence`,
      query: { name, member, connection: this.connectionId },
      timeoutMs,
      signal: this.signal,
    });
  }

  /** `DELETE /api/rooms/:room/presence?session=`: leaves at once (fire and forget; the ticket also lapses by itself). */
  leave(session: string): void {
    httpRequest(this.target, {
      method: 'DELETE',
      path: `/api/rooms/${encodeURIComponent(this.settings.room)}/presence`,
      query: { session },
      timeoutMs: this.settings.publishTimeoutMs,
    }).catch(() => undefined);
  }
}
