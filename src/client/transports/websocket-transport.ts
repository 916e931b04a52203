import { API_PREFIX, WS_PATH } from '../../protocol/constants.js';
import { parseCursor } from '../../protocol/cursor.js';
import { ERRORS, SwitchboardError, isErrorCode, type ErrorCode } from '../../protocol/errors.js';
import type { Ack, ClientFrame, Entry, SubscriptionStart, TypingNotice } from '../../protocol/types.js';
import { deadline } from '../deadline.js';
import { ConnectionError, errorFromBody, failureKind, type ClientError } from '../errors.js';
import { httpRequest } from '../http-request.js';
import { presenceNoticeOf } from '../presence-list.js';
import { detailOf, summarize, utf8Length } from '../ids.js';
import { displayPath, wsUrl } from '../urls.js';
import { httpTarget, identityOf, receiptOf, type Command, type SubscribedInfo, type Transport, type TransportEvents, type TransportSettings } from './transport.js';

/** The part of the WebSocket API used here, common to browsers and the `ws` package. */
interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: { data?: unknown; code?: number; reason?: string; message?: string }) => void): void;
  /** `ws` only: protocol-level events (browsers hide pings). */
  on?(event: 'ping', listener: () => void): unknown;
  terminate?(): void;
}
type SocketConstructor = new (url: string, options?: { headers?: Record<string, string> }) => SocketLike;

let nodeWebSocket: Promise<SocketConstructor> | undefined;

/**
 * The browser's (or Node 22's) WebSocket when there is one, else the `ws` package, imported only
 * then so that a browser bundle does not pull it in.
 */
async function socketConstructor(): Promise<{ Socket: SocketConstructor; native: boolean }> {
  if (typeof globalThis.WebSocket === 'function') return { Socket: globalThis.WebSocket as unknown as SocketConstructor, native: true };
  nodeWebSocket ??= import('ws').then((m) => m.default as unknown as SocketConstructor);
  return { Socket: await nodeWebSocket, native: false };
}

const OPEN = 1;

/** Close codes of the server (src/protocol/errors.ts) and what they mean to a client. */
/** Close code → the catalog code it stands for (the first code of the catalog that closes with it). */
const CLOSE_CODES: Record<number, ErrorCode> = {};
for (const [code, entry] of Object.entries(ERRORS) as [ErrorCode, { close?: number }][]) if (entry.close !== undefined) CLOSE_CODES[entry.close] ??= code;

/**
 * Error frames naming our room, with no request id, that mean the server dropped the
 * subscription (others, like a refused typing notice, leave it be).
 */
const SUBSCRIPTION_ENDED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['HISTORY_RESET', 'ROOM_DELETED']);

interface PendingAck {
  /** Called with the answer frame (`ack`, `marked`, `refreshed`). */
  resolve: (frame: Record<string, unknown>) => void;
  reject: (err: ClientError) => void;
  /** Cancels its deadline. */
  cancel: () => void;
}

/**
 * The native WebSocket protocol (`/api/ws`): welcome, subscribe, then entries, acks, errors and
 * pongs as JSON text frames. The client pings when the socket has been quiet for a third of the
 * silence timeout, because browsers cannot see the server's protocol-level pings.
 */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const;
  readonly quietMs: number;
  private readonly pingEveryMs: number;
  /** The client's, kept across transports and reconnections (TransportSettings.connectionId). */
  private get connectionId(): string {
    return this.settings.connectionId;
  }
  private socket: SocketLike | undefined;
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private epoch = '';
  private maxMessageBytes = Number.POSITIVE_INFINITY;
  private nextId = 1;
  private readonly pending = new Map<string, PendingAck>();
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private lastInbound = 0;
  private socketClosed: Promise<void> = Promise.resolve();
  /** While opening: ends the open with an error (close() during open must settle it). */
  private abortOpen: ((err: ClientError) => void) | undefined;

  constructor(
    private readonly settings: TransportSettings,
    private readonly events: TransportEvents,
  ) {
    this.pingEveryMs = Math.max(250, Math.floor(settings.silenceTimeoutMs / 3));
    // Silent at most until the next ping is due plus its round trip.
    this.quietMs = this.pingEveryMs * 2;
  }

  async open(cursor: string | undefined): Promise<void> {
    this.state = 'opening';
    const { Socket, native } = await socketConstructor();
    if (this.state !== 'opening') throw new ConnectionError('CLOSED', 'closed while opening');
    const { base, name, member, token, room, create, openTimeoutMs } = this.settings;
    // Browsers cannot set headers on a WebSocket: the token goes in the query there.
    const url = wsUrl(base, API_PREFIX + WS_PATH, { name, member, connection: this.connectionId, token: native ? token : undefined });
    const socket = native || token === undefined ? new Socket(url.href) : new Socket(url.href, { headers: { authorization: `Bearer ${token}` } });
    this.socket = socket;
    this.socketClosed = new Promise((resolve) => socket.addEventListener('close', () => resolve()));
    const path = displayPath(url);
    this.events.wire({ kind: 'http', direction: 'out', method: 'GET', path, bytes: 0, summary: `upgrade ${path}` });

    await new Promise<void>((resolve, reject) => {
      let phase: 'welcome' | 'subscribed' = 'welcome';
      let identity: SubscribedInfo['identity'];
      let socketError = '';
      const subscribeId = `s${this.nextId++}`;
      const cancelDeadline = deadline(openTimeoutMs, () => {
        finish(new ConnectionError('BLOCKED', `no ${phase} frame within ${openTimeoutMs} ms: is a proxy holding the WebSocket back?`));
      });
      const finish = (err?: ClientError): void => {
        cancelDeadline();
        this.abortOpen = undefined;
        if (this.state !== 'opening') {
          if (err) reject(err);
          return;
        }
        if (err === undefined) {
          this.state = 'open';
          this.startPinging();
          resolve();
          return;
        }
        this.shutdown();
        reject(err);
      };

      this.abortOpen = (err) => finish(err);
      socket.addEventListener('error', (event) => {
        socketError = event.message ?? 'WebSocket error';
      });
      socket.addEventListener('close', (event) => {
        if (this.state === 'opening') {
          const known = closeError(event.code ?? 1006, event.reason ?? '');
          if (known) finish(known);
          else void this.diagnose(socketError || `closed with ${event.code ?? 1006}`).then(finish);
        } else if (this.state === 'open') this.lose(closeError(event.code ?? 1006, event.reason ?? '') ?? new ConnectionError('CONNECTION_LOST', `WebSocket closed (${event.code ?? 1006})`));
      });
      socket.on?.('ping', () => {
        this.lastInbound = Date.now();
        this.events.activity();
        this.events.wire({ kind: 'heartbeat', direction: 'in', bytes: 0, summary: 'ping (protocol frame)' });
      });
      socket.addEventListener('message', (event) => {
        const text = typeof event.data === 'string' ? event.data : '';
        const frame = this.receive(text);
        if (!frame || this.state !== 'opening') return;
        if (phase === 'welcome' && frame.type === 'welcome') {
          phase = 'subscribed';
          this.maxMessageBytes = typeof frame.maxMessageBytes === 'number' ? frame.maxMessageBytes : this.maxMessageBytes;
          identity = identityOf(frame);
          this.write({ type: 'subscribe', id: subscribeId, room, ...(cursor !== undefined ? { after: cursor } : {}), ...(create ? { create: true } : {}) });
        } else if (frame.id === subscribeId && frame.type === 'subscribed') {
          // Read as the protocol declares it (Partial: an older or other server may send less).
          const subscribed = frame as Partial<SubscriptionStart>;
          this.epoch = String(subscribed.epoch);
          const start = parseCursor(String(subscribed.cursor));
          this.events.subscribed({
            connectionId: this.connectionId,
            ...(identity ? { identity } : {}),
            epoch: this.epoch,
            seq: start?.seq ?? 0,
            ...(subscribed.reset === 'epoch' || subscribed.reset === 'expired' ? { reset: subscribed.reset } : {}),
            presence: subscribed.presence ?? [],
            ...(subscribed.presenceTruncated === true ? { presenceTruncated: true } : {}),
          });
          finish();
        } else if (frame.id === subscribeId && frame.type === 'error') {
          finish(errorFromBody(frame) ?? new ConnectionError('BLOCKED', `subscribe refused: ${summarize(text)}`));
        }
      });
    });
  }

  send(command: Command, clientId: string): Promise<Ack> {
    if (this.state !== 'open') return Promise.reject(new ConnectionError('CONNECTION_LOST', 'the WebSocket is not open'));
    const room = this.settings.room;
    switch (command.type) {
      case 'publish': {
        const { text, data, event } = command.message;
        // The server would close the socket on a frame past its limit: refuse it here instead
        // (the limit counts the UTF-8 bytes of the text plus the JSON of the data).
        const bytes = utf8Length(text ?? '') + (data === undefined ? 0 : utf8Length(JSON.stringify(data)));
        if (bytes > this.maxMessageBytes) return Promise.reject(new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${this.maxMessageBytes} bytes`));
        return this.request<Ack>('p', (id) => ({ type: 'publish', id, room, text, data, event, clientId, replyTo: command.replyTo }), ackOf);
      }
      case 'edit':
        if (utf8Length(command.text) > this.maxMessageBytes) return Promise.reject(new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${this.maxMessageBytes} bytes`));
        return this.request<Ack>('p', (id) => ({ type: 'edit', id, room, seq: command.seq, text: command.text, clientId }), ackOf);
      case 'delete':
        return this.request<Ack>('p', (id) => ({ type: 'delete', id, room, seq: command.seq, clientId }), ackOf);
      case 'react':
        return this.request<Ack>('p', (id) => ({ type: 'react', id, room, seq: command.seq, emoji: command.emoji, on: command.on, clientId }), ackOf);
    }
  }

  /** A `mark-read` frame; resolves with the seq of the `marked` answer. */
  markRead(seq: number): Promise<number> {
    if (this.state !== 'open') return Promise.reject(new ConnectionError('CONNECTION_LOST', 'the WebSocket is not open'));
    return this.request<number>('m', (id) => ({ type: 'mark-read', id, room: this.settings.room, seq }), (frame) => Number(frame.seq));
  }

  typing(): void {
    if (this.state === 'open') this.write({ type: 'typing', room: this.settings.room });
  }

  /** Sends the new token in a `refresh` frame; resolves on `refreshed`, rejects with the server's error. */
  refresh(token: string): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ConnectionError('CONNECTION_LOST', 'the WebSocket is not open'));
    return this.request<void>('r', (id) => ({ type: 'refresh', id, token }), () => undefined);
  }

  /**
   * Sends a frame with a new request id and waits for the answer of that id (`ack`, `marked`,
   * `refreshed`: read by `answer`; `error`: rejected with its catalog code), at most the
   * publish timeout (then TIMEOUT: the outbox sends it again, with the same clientId).
   */
  private request<T>(prefix: string, frame: (id: string) => ClientFrame, answer: (frame: Record<string, unknown>) => T): Promise<T> {
    const id = `${prefix}${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const cancel = deadline(this.settings.publishTimeoutMs, () => {
        this.pending.delete(id);
        reject(new ConnectionError('TIMEOUT', `no answer within ${this.settings.publishTimeoutMs} ms`));
      });
      this.pending.set(id, { resolve: (f) => resolve(answer(f)), reject, cancel });
      this.write(frame(id));
    });
  }

  probe(): boolean {
    if (this.state !== 'open') return false;
    this.write({ type: 'ping', id: `h${this.nextId++}` });
    return true;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.socketClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    this.socket?.terminate?.();
  }

  /** Ends everything once: timers, pending acks, the socket. */
  private shutdown(): void {
    this.state = 'closed';
    this.abortOpen?.(new ConnectionError('CLOSED', 'closed while opening'));
    clearInterval(this.pingTimer);
    for (const [id, p] of this.pending) {
      p.cancel();
      p.reject(new ConnectionError('CLOSED', 'the transport was closed before the ack came'));
      this.pending.delete(id);
    }
    try {
      this.socket?.close(1000, 'client closed');
    } catch {
      // Closing a socket that is still connecting throws in some browsers; it is going away anyway.
    }
  }

  private lose(err: ClientError): void {
    if (this.state !== 'open') return;
    this.shutdown();
    this.events.lost(err);
  }

  private startPinging(): void {
    this.lastInbound = Date.now();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastInbound >= this.pingEveryMs) this.probe();
    }, this.pingEveryMs);
  }

  private write(frame: ClientFrame): void {
    if (this.socket?.readyState !== OPEN) return;
    const text = JSON.stringify(frame);
    this.socket.send(text);
    this.events.wire({ kind: frame.type === 'ping' ? 'heartbeat' : 'ws', direction: 'out', bytes: utf8Length(text), summary: summarize(text), detail: detailOf(text) });
  }

  /** Handles what every inbound frame shares; returns it parsed for the opening phase. */
  private receive(text: string): Record<string, unknown> | undefined {
    this.lastInbound = Date.now();
    this.events.activity();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const type = frame.type;
    this.events.wire({ kind: type === 'pong' ? 'heartbeat' : 'ws', direction: 'in', bytes: utf8Length(text), summary: summarize(text), detail: detailOf(text) });
    const id = typeof frame.id === 'string' ? frame.id : undefined;
    switch (type) {
      case 'message':
      case 'join':
      case 'leave':
      case 'edit':
      case 'delete':
      case 'reaction':
        if (this.state === 'open') this.events.entry(frame as unknown as Entry, this.epoch);
        break;
      case 'typing':
        if (this.state === 'open') this.events.typing(frame as unknown as TypingNotice);
        break;
      case 'presence':
        if (this.state === 'open') {
          const notice = presenceNoticeOf(frame);
          if (notice) this.events.presence(notice);
        }
        break;
      case 'receipt':
        if (this.state === 'open') this.events.receipt(receiptOf(frame));
        break;
      case 'refreshed':
      case 'marked':
      case 'ack': {
        const p = id !== undefined ? this.pending.get(id) : undefined;
        if (p) {
          this.pending.delete(id!);
          p.cancel();
          p.resolve(frame);
        }
        break;
      }
      case 'error': {
        const err = errorFromBody(frame) ?? new SwitchboardError('INTERNAL', summarize(text));
        const p = id !== undefined ? this.pending.get(id) : undefined;
        if (p) {
          this.pending.delete(id!);
          p.cancel();
          p.reject(err);
        } else if (this.state === 'open' && frame.room === this.settings.room && err instanceof SwitchboardError && SUBSCRIPTION_ENDED.has(err.code)) {
          // The server ended our subscription (history reset, room deleted):
          // this transport is done; the client resubscribes from its cursor or stops, by the code.
          this.lose(err);
        } else if (this.state === 'open') this.events.error(err);
        break;
      }
    }
    return frame;
  }

  /**
   * Why the upgrade failed, when the socket does not say (browsers never do): one plain HTTP
   * request to the room tells an unreachable server, a refused token or an unknown room from a
   * WebSocket blocked on the way (the server answers HTTP but the upgrade did not get through).
   */
  private async diagnose(reason: string): Promise<ClientError> {
    const { room, create, openTimeoutMs } = this.settings;
    try {
      await httpRequest(httpTarget(this.settings, (e) => this.events.wire(e)), { method: 'GET', path: `/api/rooms/${encodeURIComponent(room)}`, timeoutMs: openTimeoutMs });
    } catch (raw) {
      const err = raw as ClientError;
      const kind = failureKind(err);
      if (kind === 'unreachable' || (kind === 'terminal' && !(create && err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND'))) return err;
    }
    return new ConnectionError('BLOCKED', `the WebSocket upgrade failed (${reason}) though the server answers HTTP: is a proxy refusing upgrades?`);
  }
}

/** The Ack of an `ack` frame: the frame without its `type` and `id`. */
function ackOf(frame: Record<string, unknown>): Ack {
  const { type: _type, id: _id, ...ack } = frame;
  return ack as unknown as Ack;
}

/** The catalog error a close code (or a reason naming a code) stands for, if any. */
function closeError(code: number, reason: string): SwitchboardError | undefined {
  if (isErrorCode(reason)) return new SwitchboardError(reason);
  const known = CLOSE_CODES[code];
  return known ? new SwitchboardError(known) : undefined;
}
