import { readFileSync } from 'node:fs';
import http2, { type Http2SecureServer, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { HttpRequest, HttpResponse } from './http-util.js';

/**
 * Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS; nginx's
 * default). A browser queues more itself. Long-lived ones (SSE, held polls) count against the
 * connection caps per address and member like any connection; this bounds the short ones.
 */
export const MAX_STREAMS_PER_SESSION = 128;

/** How long a keep-alive connection (HTTP/1.1 or HTTP/2) may idle between requests. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** How often request deadlines of HTTP/2 streams are checked (as Node checks HTTP/1.1's). */
const CHECK_INTERVAL_MS = 1000;

export interface SecureServerOptions {
  /** PEM files: the certificate (chain) and its private key. */
  certFile: string;
  keyFile: string;
  /** The TLS handshake, then a new HTTP/2 connection's first request, must come within this. HTTP/1.1: request headers. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) must come within this; per stream for HTTP/2. */
  requestTimeoutMs: number;
  /** A request that neither sends nor takes anything for this long is cut; per stream for HTTP/2. */
  writeTimeoutMs: number;
  /** Every request of both protocols. */
  onRequest(req: HttpRequest, res: HttpResponse): void;
  /** Told of a failed TLS handshake (its socket is destroyed). */
  onTlsError(err: Error): void;
}

/** The HTTPS server of `--tls-cert` / `--tls-key`, and what shutdown needs of it. */
export interface SecureServer {
  readonly server: Http2SecureServer;
  /** Asks every HTTP/2 connection to end (GOAWAY): no new streams; open ones run to their end. */
  closeSessions(): void;
  /** Cuts every connection, HTTP/1.1 and HTTP/2 alike. */
  destroyAll(): void;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'a folder, not a file' : e.message;
    throw new Error(`cannot read ${flag} file ${file}: ${why}`);
  }
}

/**
 * HTTPS on one port: ALPN offers `h2` and `http/1.1` (node:http2 with allowHTTP1). HTTP/2 carries
 * SSE, polls and the REST API as streams of one connection; HTTP/1.1 carries clients that do not
 * speak h2 and WebSocket upgrades (the server's `upgrade` event). Throws, naming the option, when
 * a file cannot be read or the certificate and key do not make a TLS context.
 *
 * The deadlines of the plain server hold on both protocols:
 * - TLS handshake: within `headersTimeoutMs`.
 * - HTTP/1.1: Node's own (headers, whole request, keep-alive idle; `writeTimeoutMs` of inactivity).
 * - HTTP/2, per stream, so that one stalled stream never stalls its connection: the whole request
 *   within `requestTimeoutMs` (else 408, or a reset once answering began); `writeTimeoutMs` of
 *   inactivity cuts the stream (RST_STREAM CANCEL), not the connection; long-lived answers lift
 *   it for their stream (`holdOpen`) and keep their own write deadlines.
 * - HTTP/2, per connection: the first request within `headersTimeoutMs`; a connection without
 *   open streams for KEEP_ALIVE_TIMEOUT_MS is closed (GOAWAY). A connection with streams open
 *   has no deadline of its own: its streams have theirs.
 */
export function createSecureServer(o: SecureServerOptions): SecureServer {
  const cert = readPem(o.certFile, '--tls-cert');
  const key = readPem(o.keyFile, '--tls-key');
  let server: Http2SecureServer;
  try {
    server = http2.createSecureServer({
      cert,
      key,
      allowHTTP1: true,
      handshakeTimeout: o.headersTimeoutMs,
      // As http.Server does: small writes (SSE events, frames) go out at once.
      noDelay: true,
      settings: { maxConcurrentStreams: MAX_STREAMS_PER_SESSION },
    });
  } catch (err) {
    throw new Error(`--tls-cert ${o.certFile} / --tls-key ${o.keyFile}: ${(err as Error).message}`);
  }

  // HTTP/1.1 connections are run by Node's http code, which reads these fields of the server
  // (the types of Http2SecureServer do not declare them). The checking interval must be set
  // before `listen`, which starts the checks.
  Object.assign(server, {
    headersTimeout: o.headersTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    connectionsCheckingInterval: CHECK_INTERVAL_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // The lecture's raw `nc` handshake sends no Host header (over TLS: `openssl s_client`).
    requireHostHeader: false,
  });
  // Inactivity of an HTTP/1.1 socket. Node also gives it to every HTTP/2 session, as a session
  // timeout that would end all its streams at once: each session drops it below.
  server.setTimeout(o.writeTimeoutMs);

  // A failed handshake: no HTTP was spoken, so nothing is answered (by default Node turns it into
  // the HTTP `clientError` event, whose handler would answer in clear text over TLS).
  server.removeAllListeners('tlsClientError');
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    o.onTlsError(err);
    socket.destroy();
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    session.setTimeout(0);
    sessions.add(session);
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const closeAfter = (ms: number): void => {
      clearTimeout(idle);
      idle = setTimeout(() => session.close(), ms);
      idle.unref();
    };
    closeAfter(o.headersTimeoutMs);
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      clearTimeout(idle);
      stream.once('close', () => {
        if (--open === 0 && !session.closed && !session.destroyed) closeAfter(KEEP_ALIVE_TIMEOUT_MS);
      });
    });
    session.once('close', () => {
      clearTimeout(idle);
      sessions.delete(session);
    });
  });

  /** Streams whose request has not fully come yet, and when each began. */
  const receiving = new Map<ServerHttp2Stream, number>();
  // Registered before the request listener, so that it runs first: a route that holds its stream
  // open (holdOpen) lifts this deadline after it is set, never before.
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.setTimeout(o.writeTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
    if (!stream.endAfterHeaders) {
      receiving.set(stream, Date.now());
      stream.once('close', () => receiving.delete(stream));
    }
  });
  server.on('request', o.onRequest);

  let checker: NodeJS.Timeout | undefined;
  server.on('listening', () => {
    clearInterval(checker);
    checker = setInterval(() => {
      const now = Date.now();
      for (const [stream, began] of receiving) {
        // remoteClose: the client ended its side (the whole body came, read or not).
        if (stream.destroyed || stream.state.remoteClose) receiving.delete(stream);
        else if (now - began > o.requestTimeoutMs) {
          receiving.delete(stream);
          requestTimedOut(stream);
        }
      }
    }, CHECK_INTERVAL_MS);
    checker.unref();
  });
  server.on('close', () => clearInterval(checker));

  return {
    server,
    closeSessions() {
      for (const s of sessions) s.close();
    },
    destroyAll() {
      for (const s of sessions) s.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** As HTTP/1.1's request timeout: 408 when nothing was answered yet, and the stream ends. */
function requestTimedOut(stream: ServerHttp2Stream): void {
  if (!stream.headersSent) {
    stream.respond({ ':status': 408, 'cache-control': 'no-store' }, { endStream: true });
    // The client may still be sending: NO_ERROR tells it to stop (RFC 9113, section 8.1).
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  } else stream.close(http2.constants.NGHTTP2_CANCEL);
}
