import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { API_PREFIX, WS_PATH } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';
import { originAllowed, requestToken, toSwitchboardError } from '../http-util.js';
import { identityFrom } from '../identity.js';
import { SeedWebSocketConnection } from './seed-websocket.js';
import { WebSocketConnection } from './websocket-connection.js';

interface Tracked {
  ws: WebSocket;
  alive: boolean;
}

/**
 * Accepts WebSocket upgrades on the HTTP server: the native protocol at `/api/ws`, the lecture's
 * chat at `/`. Checks Origin, token and the connection cap before the handshake; runs one
 * heartbeat timer for all sockets (ping every `heartbeatMs`; a socket that did not answer the
 * previous ping is terminated, which leaves its rooms at once).
 */
export class WebSocketGateway {
  private readonly native: WebSocketServer;
  private readonly seed: WebSocketServer;
  private readonly tracked = new Set<Tracked>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly ctx: ServerContext) {
    const common = { noServer: true, clientTracking: false, perMessageDeflate: false } as const;
    // The frame holds the text plus a JSON envelope: allow room for it; the text itself is checked.
    this.native = new WebSocketServer({ ...common, maxPayload: ctx.config.maxMessageBytes + 4096 });
    this.seed = new WebSocketServer({ ...common, maxPayload: ctx.config.maxMessageBytes });
    this.heartbeat = setInterval(() => this.beat(), ctx.config.heartbeatMs);
    this.heartbeat.unref();
  }

  /** The HTTP server's 'upgrade' handler. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const isNative = path === API_PREFIX + WS_PATH;
    const isSeed = this.ctx.config.seedRoutes && path === '/';
    try {
      if (!isNative && !isSeed) throw new SwitchboardError('NOT_FOUND');
      if (!originAllowed(req.headers.origin, req.headers.host, this.ctx.config.origins)) throw new SwitchboardError('ORIGIN_NOT_ALLOWED');
      if (isNative && this.ctx.config.tokens.length > 0) {
        const token = requestToken(req, url);
        if (token === undefined || !this.ctx.config.tokens.includes(token)) throw new SwitchboardError('UNAUTHORIZED');
      }
      const identity = isNative ? identityFrom(url.searchParams) : undefined;
      this.ctx.connections.check();
      const server = isNative ? this.native : this.seed;
      server.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, identity));
    } catch (err) {
      const e = toSwitchboardError(err);
      this.ctx.metrics.errors.inc({ code: e.code });
      const body = JSON.stringify(e.toBody());
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  /** Closes every socket's underlying servers' state (the sockets themselves are closed through the registry). */
  close(): void {
    clearInterval(this.heartbeat);
    this.native.close();
    this.seed.close();
  }

  private onConnection(ws: WebSocket, identity: ReturnType<typeof identityFrom> | undefined): void {
    const conn: Closable & { onClose(): void } = identity
      ? new WebSocketConnection(this.ctx, ws, identity)
      : new SeedWebSocketConnection(this.ctx, ws);
    let release: () => void;
    try {
      release = this.ctx.connections.admit('websocket', conn);
    } catch (err) {
      const e = toSwitchboardError(err);
      ws.close(e.closeCode ?? 1013, e.code);
      return;
    }
    const tracked: Tracked = { ws, alive: true };
    this.tracked.add(tracked);
    ws.on('pong', () => (tracked.alive = true));
    ws.on('error', (err) => {
      // ws closes the socket itself (1007 invalid UTF-8, 1009 too big, 1002 protocol): count it.
      const code = (err as { code?: string }).code;
      this.ctx.metrics.errors.inc({ code: code === 'WS_ERR_INVALID_UTF8' ? 'INVALID_UTF8' : code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'MESSAGE_TOO_LARGE' : 'BAD_REQUEST' });
    });
    ws.on('close', () => {
      this.tracked.delete(tracked);
      conn.onClose();
      release();
    });
    if (conn instanceof WebSocketConnection) conn.start();
    else
      void (conn as SeedWebSocketConnection).start().catch((err: unknown) => {
        this.ctx.logger.warn({ err }, 'seed websocket could not join the default room');
        ws.close(1011, 'INTERNAL');
      });
  }

  private beat(): void {
    for (const t of this.tracked) {
      if (!t.alive) {
        this.ctx.metrics.errors.inc({ code: 'HEARTBEAT_TIMEOUT' });
        this.ctx.logger.debug('websocket peer missed its pong: terminated');
        t.ws.terminate();
        continue;
      }
      t.alive = false;
      if (t.ws.readyState === WebSocket.OPEN) t.ws.ping();
    }
  }
}
