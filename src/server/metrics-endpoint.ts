import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SwitchboardError } from '../protocol/errors.js';
import { bodyToCome, closeUnread, sendError, type HttpRequest, type HttpResponse } from './http-util.js';
import type { Metrics } from './metrics.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * True when an Authorization header is `Bearer <token>`. Compared in constant time: both sides
 * are hashed first, so neither the content nor the length of the token leaks through timing.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = digest(m?.[1] ?? '');
  return timingSafeEqual(given, digest(token)) && m !== null;
}

/**
 * Answers `/metrics`: the registry in Prometheus text format, or what `text` makes (a worker of
 * `--workers`: every worker's metrics, aggregated by the primary; its failure is a 500). With a
 * `token`, a request without `Authorization: Bearer <token>` is refused: throws UNAUTHORIZED
 * (401), with a `WWW-Authenticate` header already set on `res`.
 */
export async function answerMetrics(metrics: Metrics, token: string | undefined, req: HttpRequest, res: HttpResponse, text?: () => Promise<string>): Promise<void> {
  if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
    res.setHeader('www-authenticate', 'Bearer realm="metrics"');
    throw new SwitchboardError('UNAUTHORIZED', 'the metrics token is required: Authorization: Bearer <token>');
  }
  const body = await (text ? text() : metrics.scrape());
  res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

export interface MetricsServerOptions {
  metrics: Metrics;
  token: string | undefined;
  /** What to answer instead of the registry's own text (see answerMetrics). */
  text?: () => Promise<string>;
  /** Deadlines of request headers and whole requests (slow senders), as on the main port. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Told of an unexpected failure (500). */
  onInternal: (err: unknown) => void;
  /** Answers `/readyz` (status and body), as on the main port. */
  readiness: () => Promise<{ status: number; body: object }>;
}

/**
 * The operations port (`--metrics-port`), a server of its own: GET or HEAD `/metrics` (the token
 * checked as on the main port), `/healthz` and `/readyz` (as on the main port, never behind the
 * token); 404 and 405 otherwise, as catalog errors. A probe here is not queued behind the main
 * port's clients: a burst of new connections there fills the main port's accept queue, in which
 * the kernel hands connections over in arrival order. Nothing here is access-logged; refusals are
 * counted in `switchboard_errors_total`.
 */
export function createMetricsServer(o: MetricsServerOptions): http.Server {
  const server = http.createServer({ headersTimeout: o.headersTimeoutMs, requestTimeout: o.requestTimeoutMs, connectionsCheckingInterval: 1000 }, (req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    // No route here reads a body: one of over a few KiB is not read, its connection closed after the answer.
    if (bodyToCome(req)) closeUnread(req, res);
    const fail = (err: unknown): void => {
      o.metrics.errors.inc({ code: sendError(res, err, o.onInternal) });
    };
    const path = (req.url ?? '/').split('?')[0]!;
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') fail(new SwitchboardError('NOT_FOUND', path.slice(0, 200)));
    else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      fail(new SwitchboardError('METHOD_NOT_ALLOWED', req.method));
    }
    else if (path === '/metrics') answerMetrics(o.metrics, o.token, req, res, o.text).catch(fail);
    else {
      const answer = path === '/healthz' ? Promise.resolve({ status: 200, body: { status: 'ok' } }) : o.readiness();
      answer.then(({ status, body }) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      }, fail);
    }
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    (socket as Socket).destroySoon();
  });
  return server;
}

/**
 * Listens on `port` and `host`; resolves with the bound port. A failure rejects with an error
 * that names the option (`--metrics-port 9100 is in use`), not only the main port's words.
 */
export function listenMetrics(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(new Error(err.code === 'EADDRINUSE' ? `--metrics-port ${port} is in use on ${host}` : `--metrics-port ${port} on ${host}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
