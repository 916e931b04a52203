import type WebSocket from 'ws';
import { formatCursor } from '../../protocol/cursor.js';
import { SwitchboardError } from '../../protocol/errors.js';
import { CLIENT_FRAME_TYPES, clientFrame } from '../../protocol/schemas.js';
import type { ClientFrame, ServerFrame, TransportName, TypingNotice } from '../../protocol/types.js';
import type { Batch } from '../batch.js';
import { nativeWsFrames } from '../codecs.js';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';
import { toSwitchboardError, utf8Length } from '../http-util.js';
import type { Identity } from '../identity.js';
import { RateLimiter } from '../rate-limiter.js';
import type { Subscriber } from '../subscriber.js';
import { writeFrames } from '../ws-frame.js';

/** Rejected publishes in a row after which a flooding client is disconnected (close 4008). */
const FLOOD_DISCONNECT_AFTER = 100;

/** One room subscription of a WebSocket connection. */
class WsSubscription implements Subscriber {
  readonly transport: TransportName = 'websocket';
  position = 0;

  constructor(private readonly conn: WebSocketConnection) {}

  deliver(batch: Batch): void {
    this.conn.sendFrames(batch.encoded('ws', nativeWsFrames));
  }

  deliverTyping(_notice: TypingNotice, encoded: string): void {
    this.conn.sendText(encoded);
  }

  deliverPresence(encoded: string): void {
    this.conn.sendText(encoded);
  }

  historyReset(): void {
    this.conn.onHistoryReset(this);
  }
}

/**
 * A client of the native WebSocket protocol (`/api/ws`): JSON frames to subscribe, unsubscribe,
 * publish, signal typing and ping; entries, acks and errors back. See docs/protocol.md.
 */
export class WebSocketConnection implements Closable {
  private readonly subscriptions = new Map<string, WsSubscription>();
  private readonly limiter: RateLimiter;
  private rejected = 0;
  private closed = false;

  constructor(
    private readonly ctx: ServerContext,
    private readonly ws: WebSocket,
    readonly identity: Identity,
  ) {
    this.limiter = new RateLimiter(ctx.config.rateLimitPerSecond, ctx.config.rateLimitBurst);
    ws.on('message', (data, isBinary) => void this.onMessage(data as Buffer, isBinary));
  }

  start(): void {
    this.send({
      type: 'welcome',
      connectionId: this.identity.connectionId,
      member: this.identity.member,
      name: this.identity.name,
      heartbeatMs: this.ctx.config.heartbeatMs,
      maxMessageBytes: this.ctx.config.maxMessageBytes,
    });
  }

  /** A room's history was reset under a subscription: end it and say so; the client subscribes again. */
  onHistoryReset(sub: WsSubscription): void {
    for (const [room, s] of this.subscriptions) {
      if (s !== sub) continue;
      this.subscriptions.delete(room);
      const e = new SwitchboardError('HISTORY_RESET', room);
      this.send({ type: 'error', room, code: e.code, message: e.message });
    }
  }

  /** Leaves every room: called once the socket is closed. */
  onClose(): void {
    this.closed = true;
    for (const room of this.subscriptions.keys()) this.leave(room);
  }

  shutdown(): void {
    this.ws.close(1001, 'server shutting down');
  }

  destroy(): void {
    this.ws.terminate();
  }

  /** Writes pre-framed bytes; a client that leaves too much unread is dropped (it resumes later). */
  sendFrames(frames: Buffer): void {
    if (this.tooSlow()) return;
    writeFrames(this.ws, frames);
  }

  sendText(text: string): void {
    if (this.tooSlow()) return;
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
  }

  private send(frame: ServerFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  private tooSlow(): boolean {
    if (this.ws.bufferedAmount <= this.ctx.config.maxBufferedBytes) return false;
    if (!this.closed) {
      this.closed = true;
      this.ctx.metrics.errors.inc({ code: 'SLOW_CONSUMER' });
      this.ws.close(4000, 'SLOW_CONSUMER');
    }
    return true;
  }

  private async onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    let id: string | undefined;
    try {
      if (isBinary) throw new SwitchboardError('BAD_REQUEST', 'send JSON in text frames');
      let raw: unknown;
      try {
        raw = JSON.parse(data.toString('utf8'));
      } catch {
        throw new SwitchboardError('BAD_JSON');
      }
      if (raw !== null && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string') id = (raw as { id: string }).id;
      const type = (raw as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(type)) {
        throw new SwitchboardError('UNKNOWN_FRAME', JSON.stringify(String(type).slice(0, 40)));
      }
      const parsed = clientFrame.safeParse(raw);
      if (!parsed.success) throw new SwitchboardError('BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      await this.onFrame(parsed.data as ClientFrame);
    } catch (err) {
      const e = toSwitchboardError(err);
      if (e.code === 'INTERNAL') this.ctx.logger.error({ err }, 'websocket frame failed');
      this.ctx.metrics.errors.inc({ code: e.code });
      this.send({ type: 'error', ...(id !== undefined ? { id } : {}), code: e.code, message: e.message });
    }
  }

  private async onFrame(frame: ClientFrame): Promise<void> {
    const { hub } = this.ctx;
    switch (frame.type) {
      case 'ping':
        this.send({ type: 'pong', ...(frame.id !== undefined ? { id: frame.id } : {}) });
        return;
      case 'subscribe': {
        const state = await hub.room(frame.room, frame.create === true);
        const start = hub.resolveStart(state, frame.after);
        const presence = await hub.presence.members(frame.room);
        this.leave(frame.room, false);
        const sub = new WsSubscription(this);
        this.subscriptions.set(frame.room, sub);
        this.send({
          type: 'subscribed',
          ...(frame.id !== undefined ? { id: frame.id } : {}),
          room: frame.room,
          epoch: start.epoch,
          cursor: formatCursor(start),
          ...(start.reset ? { reset: start.reset } : {}),
          presence,
        });
        hub.presence.attach(frame.room, { id: this.identity.connectionId, member: this.identity.member, name: this.identity.name, transport: 'websocket' });
        try {
          await hub.subscribe(frame.room, sub, start);
        } catch (err) {
          this.leave(frame.room);
          throw err;
        }
        if (this.closed || this.subscriptions.get(frame.room) !== sub) hub.unsubscribe(frame.room, sub);
        return;
      }
      case 'unsubscribe':
        this.leave(frame.room);
        this.send({ type: 'unsubscribed', ...(frame.id !== undefined ? { id: frame.id } : {}), room: frame.room });
        return;
      case 'publish': {
        if (!this.limiter.take()) {
          if (++this.rejected > FLOOD_DISCONNECT_AFTER) this.ws.close(4008, 'RATE_LIMITED');
          throw new SwitchboardError('RATE_LIMITED');
        }
        this.rejected = 0;
        if (utf8Length(frame.text) > this.ctx.config.maxMessageBytes) {
          throw new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${this.ctx.config.maxMessageBytes} bytes`);
        }
        const { connectionId, member, name } = this.identity;
        const ack = await hub.publish({
          type: 'message',
          room: frame.room,
          from: { id: connectionId, name, member, transport: 'websocket' },
          text: frame.text,
          ...(frame.clientId !== undefined ? { clientId: frame.clientId } : {}),
        });
        this.send({ type: 'ack', ...(frame.id !== undefined ? { id: frame.id } : {}), ...ack });
        return;
      }
      case 'typing':
        if (!this.subscriptions.has(frame.room) || !this.limiter.take()) return;
        hub.typing(frame.room, { id: this.identity.connectionId, name: this.identity.name, member: this.identity.member });
        return;
    }
  }

  private leave(room: string, presence = true): void {
    const sub = this.subscriptions.get(room);
    if (!sub) return;
    this.subscriptions.delete(room);
    this.ctx.hub.unsubscribe(room, sub);
    if (presence) this.ctx.hub.presence.detach(room, this.identity.connectionId, this.identity.member);
  }
}
