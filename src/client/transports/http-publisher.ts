import type { Ack, PresenceMember } from '../../protocol/types.js';
import { httpRequest, type HttpCall, type HttpTarget } from '../http-request.js';
import type { Command, TransportSettings } from './transport.js';

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

  /**
   * A publish (`POST /api/rooms/:room/messages`) or an amendment (`PATCH` or `DELETE
   * .../messages/:seq`, `POST .../messages/:seq/reactions`). The sender is named in the body of
   * a publish and in the query of the others (their bodies hold only what they change). Rejects
   * like httpRequest (CLOSED once the transport is closed).
   */
  send(command: Command, clientId: string): Promise<Ack> {
    const { room, name, member } = this.settings;
    const messages = `/api/rooms/${encodeURIComponent(room)}/messages`;
    switch (command.type) {
      case 'publish': {
        const { text, data, event } = command.message;
        return this.call<Ack>({ method: 'POST', path: messages, body: { text, data, event, replyTo: command.replyTo, clientId, name, member, connectionId: this.connectionId } });
      }
      case 'edit':
        return this.call<Ack>({ method: 'PATCH', path: `${messages}/${command.seq}`, query: this.claims(), body: { text: command.text, clientId } });
      case 'delete':
        return this.call<Ack>({ method: 'DELETE', path: `${messages}/${command.seq}`, query: this.claims(), body: { clientId } });
      case 'react':
        return this.call<Ack>({ method: 'POST', path: `${messages}/${command.seq}/reactions`, query: this.claims(), body: { emoji: command.emoji, on: command.on, clientId } });
    }
  }

  /** `PUT /api/rooms/:room/read`: resolves with the position stored. */
  async markRead(seq: number): Promise<number> {
    const answer = await this.call<{ seq: number }>({ method: 'PUT', path: `/api/rooms/${encodeURIComponent(this.settings.room)}/read`, query: this.claims(), body: { seq } });
    return answer.seq;
  }

  private claims(): Record<string, string> {
    return { name: this.settings.name, member: this.settings.member, connection: this.connectionId };
  }

  private call<T>(call: Omit<HttpCall, 'timeoutMs' | 'signal'>): Promise<T> {
    return httpRequest<T>(this.target, { ...call, timeoutMs: this.settings.publishTimeoutMs, signal: this.signal });
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
   * be present through). Resolves with the members present, the ticket each poll carries and who the server takes
   * this client for (`member`, `name`).
   */
  async join(timeoutMs: number): Promise<{ members: PresenceMember[]; presenceTruncated?: boolean; session: string; member?: unknown; name?: unknown }> {
    const { room, name, member } = this.settings;
    return httpRequest<{ members: PresenceMember[]; presenceTruncated?: boolean; session: string; member?: unknown; name?: unknown }>(this.target, {
      method: 'POST',
      path: `/api/rooms/${encodeURIComponent(room)}/presence`,
      query: { name, member, connection: this.connectionId },
      timeoutMs,
      signal: this.signal,
    });
  }

  /**
   * `DELETE /api/rooms/:room/presence?session=`: leaves at once (fire and forget; the ticket also
   * lapses by itself). `keepalive`: sent even as the page goes away.
   */
  leave(session: string, keepalive = false): void {
    httpRequest(this.target, {
      method: 'DELETE',
      path: `/api/rooms/${encodeURIComponent(this.settings.room)}/presence`,
      query: { session },
      timeoutMs: this.settings.publishTimeoutMs,
      keepalive,
    }).catch(() => undefined);
  }
}
