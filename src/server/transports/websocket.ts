import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { API_PREFIX, WS_PATH } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import { NATIVE_WS, SEED_WS } from '../codecs.js';
import type { ServerContext } from '../context.js';
import { maxBodyBytes, retryAfter, toSwitchboardError } from '../http-util.js';
import { claimsOf, handshake, originAllowed } from '../session/handshake.js';
import { Session } from '../session/session.js';
import { SpreadRounds, type Spread } from '../spread-rounds.js';
import { SeedWebSocketConnection } from './seed-websocket.js';
import { ServerWebSocket } from './server-websocket.js';
import { WebSocketConnection } from './websocket-connection.js';
import { WebSocketSink } from './websocket-sink.js';

/**
 * What the gateway keeps of an open socket: its session, whether it answered the last ping, when
 * it opened, its slot in the heartbeat's round. The socket points at it (ServerWebSocket.tracked): its listeners are functions
 * shared by every socket (below the class), not closures made per connection.
 */
export class TrackedSocket implements Spread {
  alive = true;
  readonly opened = performance.now();
  spreadSlot = -1;
  /**
   * The socket's bytes read up to the end of the last whole message, plus the control frames read
   * since (pings, pongs): what it read past this is a message still coming (see beat).
   */
  wholeUpTo = 0;
  /** When a beat first found part of a message waiting (Date.now()); undefined when none was. */
  partSince: number | undefined = undefined;
  /** Its `websocket open` line was written (within its address's budget): its close line is too. */
  logged = false;

  constructor(
    readonly gateway: WebSocketGateway,
    readonly ws: ServerWebSocket,
    readonly session: Session,
    readonly socket: Socket,
  ) {}
}

/**
 * Bytes of a message read but not yet whole past which a beat counts it as coming: more than
 * an unfinished close frame or the rounding of a TCP read that ended a message and began the next.
 */
const PART_BYTES = 1024;

/**
 * Accepts WebSocket upgrades on the HTTP server: the native protocol at `/api/ws`, the lecture's
 * chat at `/`. Before the handshake: the Origin list, the session's handshake (token or guest)
 * and the connection caps, each refused with a catalog error as an HTTP answer. Pings each
 * socket every `heartbeatMs`, the pings of all sockets spread over the interval by one timer
 * (SpreadRounds); a socket that did not answer its previous ping is terminated, which ends its
 * session at once.
 */
export class WebSocketGateway {
  private readonly native: WebSocketServer;
  private readonly seed: WebSocketServer;
  /** Every open socket, in the slots of the heartbeat. */
  private readonly heartbeat: SpreadRounds<TrackedSocket>;

  /** `node`: this node's id among worker processes, said in an `x-switchboard-node` header of every upgrade, as of every HTTP answer (server.ts). */
  constructor(
    private readonly ctx: ServerContext,
    node?: string,
  ) {
    const common = { noServer: true, clientTracking: false, perMessageDeflate: false, WebSocket: ServerWebSocket } as const;
    // The frame holds the text plus a JSON envelope (escaping may make it 6 times larger): the text itself is checked.
    this.native = new WebSocketServer({ ...common, maxPayload: maxBodyBytes(ctx.config.maxMessageBytes) });
    this.seed = new WebSocketServer({ ...common, maxPayload: ctx.config.maxMessageBytes });
    if (node !== undefined) {
      const header = `x-switchboard-node: ${node}`;
      for (const server of [this.native, this.seed]) server.on('headers', (headers: string[]) => void headers.push(header));
    }
    for (const server of [this.native, this.seed]) server.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => this.refuseHandshake(err, socket, req));
    this.heartbeat = new SpreadRounds(ctx.config.heartbeatMs, (t) => this.beat(t));
  }

  /** The HTTP server's 'upgrade' handler. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Not a closure: V8 gives this function's closures one shared context, so a listener that
    // lives as long as the socket would keep `req` (the catch below uses it) alive with it, some
    // 1 KiB per connection (bench/costs/costs.ts memory: 6.4 KiB of heap per WebSocket with it,
    // 5.4 without; 30-40 MB of the 50,000 tree's RSS).
    socket.on('error', destroyOnError);
    void this.upgrade(req, socket as Socket, head).catch((err: unknown) => {
      const e = toSwitchboardError(err);
      if (e.code === 'INTERNAL') this.ctx.badInput.error('ws-upgrade', { err }, 'websocket upgrade failed');
      this.refuse(req, socket, e);
    });
  }

  /** Answers a refused upgrade with a catalog error, as an HTTP answer on the socket (its head alone to a HEAD), and closes it. */
  private refuse(req: IncomingMessage, socket: Duplex, e: SwitchboardError, headers = ''): void {
    this.ctx.metrics.errors.inc({ code: e.code });
    const body = JSON.stringify(e.toBody());
    const retry = retryAfter(e);
    if (!socket.writable) return;
    socket.end(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${retry !== undefined ? `Retry-After: ${retry}\r\n` : ''}${headers}Connection: close\r\n\r\n${req.method === 'HEAD' ? '' : body}`,
    );
  }

  /**
   * A handshake `ws` refuses (a method other than GET, an Upgrade other than websocket, a missing
   * or bad Sec-WebSocket-Key, -Version or -Protocol): a catalog error, not ws's plain text.
   */
  private refuseHandshake(err: Error, socket: Duplex, req: IncomingMessage): void {
    if (err.message === 'Invalid HTTP method') {
      this.refuse(req, socket, new SwitchboardError('METHOD_NOT_ALLOWED', 'a WebSocket handshake is a GET'), 'Allow: GET\r\n');
      return;
    }
    const version = err.message.includes('Sec-WebSocket-Version');
    this.refuse(req, socket, new SwitchboardError('BAD_REQUEST', `not a WebSocket handshake: ${err.message}`), version ? 'Sec-WebSocket-Version: 13\r\n' : '');
  }

  /** Closes the servers' own state (the sockets themselves are closed through the registry). */
  close(): void {
    this.heartbeat.stop();
    this.native.close();
    this.seed.close();
  }

  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const isNative = url.pathname === API_PREFIX + WS_PATH;
    const isSeed = this.ctx.config.seedRoutes && url.pathname === '/';
    if (!isNative && !isSeed) throw new SwitchboardError('NOT_FOUND');
    if (!originAllowed(req.headers.origin, this.ctx.config.origins)) throw new SwitchboardError('ORIGIN_NOT_ALLOWED');
    const { principal, connectionId } = await handshake(this.ctx, req, url, isNative ? claimsOf(url) : {});
    this.ctx.connections.check(principal);
    if (socket.destroyed) return;
    const server = isNative ? this.native : this.seed;
    server.handleUpgrade(req, socket, head, (upgraded) => {
      // The WebSocket option of both servers.
      const ws = upgraded as ServerWebSocket;
      const sink = new WebSocketSink(ws, socket);
      const session = new Session(this.ctx, {
        id: connectionId,
        principal,
        transport: 'websocket',
        sink: { sink, codec: isNative ? NATIVE_WS : SEED_WS, onReset: isNative ? 'notify' : 'follow' },
      });
      try {
        this.ctx.connections.admit('websocket', session);
      } catch (err) {
        sink.close(toSwitchboardError(err));
        return;
      }
      this.track(ws, session, socket);
      if (isNative) new WebSocketConnection(this.ctx, ws, session).start();
      else
        void new SeedWebSocketConnection(this.ctx, ws, session).start().catch((err: unknown) => {
          const e = toSwitchboardError(err);
          if (e.code === 'INTERNAL') this.ctx.logger.warn({ err }, 'lecture websocket could not join the default room');
          session.close(e);
        });
    });
  }

  private track(ws: ServerWebSocket, session: Session, socket: Socket): void {
    const tracked = new TrackedSocket(this, ws, session, socket);
    tracked.wholeUpTo = socket.bytesRead;
    const skipped = this.ctx.accessLog.take(session.principal.address);
    if (skipped !== undefined) {
      tracked.logged = true;
      this.ctx.logger.info(skipped > 0 ? { ...who(session), skipped } : who(session), 'websocket open');
    }
    this.heartbeat.add(tracked);
    ws.tracked = tracked;
    ws.on('pong', onPong);
    ws.on('ping', onPing);
    ws.on('message', onWhole);
    ws.on('error', onError);
    ws.on('close', onClose);
  }

  /** A socket's error: ws closes the socket itself (1007 invalid UTF-8, 1009 too big, 1002 protocol); counted and logged at warn (a few per code and 10 s). */
  errored(tracked: TrackedSocket, err: Error): void {
    const wsCode = (err as { code?: string }).code;
    const code = wsCode === 'WS_ERR_INVALID_UTF8' ? 'INVALID_UTF8' : wsCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'MESSAGE_TOO_LARGE' : 'BAD_REQUEST';
    this.ctx.metrics.errors.inc({ code });
    this.ctx.badInput.warn(`ws:${code}`, { code, ...who(tracked.session) }, err.message.slice(0, 200));
  }

  /** A socket closed: its session ends and its slot is released. */
  closed(tracked: TrackedSocket, code: number): void {
    const { session } = tracked;
    if (tracked.logged) this.ctx.logger.info({ ...who(session), code: tracked.ws.refusedWith ?? code, ms: Math.round(performance.now() - tracked.opened), rooms: session.subscriptionCount }, 'websocket close');
    this.heartbeat.delete(tracked);
    session.close();
    this.ctx.connections.release('websocket', session);
  }

  /**
   * A socket's turn in the heartbeat: terminated if it did not answer its last ping, or if part of
   * a message has waited for the rest longer than `requestTimeoutMs` (a peer that sends all of a
   * big frame but its last byte, or a first fragment and never the last, answering pings, would
   * hold up to the frame limit of the node's memory for as long as it liked: an HTTP body gets
   * the same deadline); else pinged.
   */
  private beat(t: TrackedSocket): boolean {
    if (!t.alive) {
      this.ctx.metrics.errors.inc({ code: 'HEARTBEAT_TIMEOUT' });
      this.ctx.logger.debug('websocket peer missed its pong: terminated');
      t.ws.terminate(); // its 'close' ends its session (closed)
      return false;
    }
    // Not while this node stopped reading the socket (FrameQueue pushing back): the wait is ours then.
    if (!t.ws.isPaused && t.socket.bytesRead - t.wholeUpTo > PART_BYTES) {
      const now = Date.now();
      t.partSince ??= now;
      if (now - t.partSince >= this.ctx.config.requestTimeoutMs) {
        this.ctx.metrics.errors.inc({ code: 'REQUEST_TIMEOUT' });
        this.ctx.badInput.warn('ws:REQUEST_TIMEOUT', { code: 'REQUEST_TIMEOUT', ...who(t.session) }, 'a message did not come whole in time: terminated');
        t.ws.terminate();
        return false;
      }
    } else t.partSince = undefined;
    t.alive = false;
    if (t.ws.readyState === WebSocket.OPEN) t.ws.ping();
    return true;
  }
}

/** Who a log line is about: made when a line is written, not kept per connection (tens of thousands of them). */
function who(session: Session): { transport: 'websocket'; member: string; connection: string; address: string } {
  return { transport: 'websocket', member: session.principal.member, connection: session.id, address: session.principal.address };
}

// Every socket's listeners: one function each, the socket (a ServerWebSocket: the servers' WebSocket option) as `this`.
function onPong(this: WebSocket, data: Buffer): void {
  const tracked = (this as ServerWebSocket).tracked;
  if (!tracked) return;
  tracked.alive = true;
  tracked.wholeUpTo += 6 + data.length; // as a ping's frame
}

/** A whole message was read: nothing is waiting past it. */
function onWhole(this: WebSocket): void {
  const tracked = (this as ServerWebSocket).tracked;
  if (!tracked) return;
  tracked.wholeUpTo = tracked.socket.bytesRead;
  tracked.partSince = undefined;
}

/** A client's ping: its frame (masked, 2 + 4 bytes of head) is read whole, between the parts of a message or not. */
function onPing(this: WebSocket, data: Buffer): void {
  const tracked = (this as ServerWebSocket).tracked;
  if (tracked) tracked.wholeUpTo += 6 + data.length;
}

function onError(this: WebSocket, err: Error): void {
  const tracked = (this as ServerWebSocket).tracked;
  if (tracked) tracked.gateway.errored(tracked, err);
}

function onClose(this: WebSocket, code: number): void {
  const tracked = (this as ServerWebSocket).tracked;
  if (tracked) tracked.gateway.closed(tracked, code);
}

/** A socket's 'error' listener until ws takes it over: the socket is destroyed. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}
