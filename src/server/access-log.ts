import { isHttp2, type HttpRequest, type HttpResponse } from './http-util.js';
import type { Logger } from './logger.js';
import type { Limits } from './session/limits.js';

/** What a request's handshake learnt, for its access-log line (unknown while empty). */
interface Who {
  member: string;
  transport: string;
}

/** Requests that get an access-log line (only those: with logging off, noting costs a lookup that finds nothing). */
const who = new WeakMap<HttpRequest, Who>();
/** True once a request got a line: until then (logging below `info`) noting looks nothing up. */
let noting = false;

/** The URL of a request as its client asked for it, where a mount under a path rewrote req.url. */
const asked = new WeakMap<HttpRequest, string>();

/**
 * Notes the URL of a request before a mount (`path: '/chat'`) takes its prefix off req.url: its
 * access-log line shows the path the client asked for (`/chat/switchboard-client.js`).
 */
export function noteAskedUrl(req: HttpRequest, url: string): void {
  asked.set(req, url);
}

/** Notes who made a request (called by the handshake), so its access-log line names them. */
export function noteWho(req: HttpRequest, member: string, transport?: string): void {
  if (!noting) return;
  const known = who.get(req);
  if (!known) return;
  known.member = member;
  known.transport = transport ?? (known.transport || 'http');
}

/** Notes the transport of a request (called by the route). */
export function noteTransport(req: HttpRequest, transport: string): void {
  if (!noting) return;
  const known = who.get(req);
  if (known) known.transport = transport;
}

/** Addresses whose skipped lines are counted at most: past it the counts start over (the metric keeps the total). */
const MAX_SKIPPED_ADDRESSES = 10_000;

export interface AccessLogOptions {
  /** `accessLog` (`--no-access-log` turns it off: no line at all). */
  enabled: boolean;
  /** Whose budget a request spends: its client address, as the other budgets of an address count it (clientAddress). */
  addressOf: (req: HttpRequest) => string;
  /** The `accessLog` budget of each address (`--access-log-rate`). */
  limits: Pick<Limits, 'tryTake'>;
  /** Counts the lines not written. */
  skippedTotal: { inc(): void };
}

/**
 * The access log of a server: one `info` line per HTTP request when its answer is done (an SSE
 * stream or a held poll: when it ends): method, path as the client asked for it (never the
 * query, which may hold a token), status, duration, bytes sent, and who, when the handshake knew.
 * Readable on a terminal (pino-pretty), JSON otherwise. An HTTP/2 request is one stream of a
 * shared connection, whose byte count is the connection's: its line says `http: 2` instead of
 * `bytes`. The WebSocket transport spends a line of the same budget (`take`) on a socket's
 * `websocket open` line, and writes its `websocket close` line when it wrote the open one.
 *
 * Off with `--no-access-log` (or a level above `info`). Each client address gets
 * `--access-log-rate` lines a second (burst 10×): one client polling in a loop (some 20,000
 * requests a second from one process on this 2-core machine) would otherwise have the server
 * write some 3 MB of log a second. Its requests and WebSocket opens past that are counted
 * (`switchboard_access_log_skipped_total`), and the next line of the address says how many were
 * `skipped` since its last.
 */
export class AccessLog {
  /** Lines not written, per address, since its last line. */
  private readonly skipped = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly options: AccessLogOptions,
  ) {}

  /** True when lines are written (the option, and the level). */
  get on(): boolean {
    return this.options.enabled && this.logger.isLevelEnabled('info');
  }

  /**
   * Spends a line of `address`'s budget: how many of its lines were skipped since its last (0 or
   * more), or undefined when this one is skipped too (off, or the budget spent: counted).
   */
  take(address: string): number | undefined {
    if (!this.on) return undefined;
    if (!this.options.limits.tryTake('accessLog', address)) {
      this.options.skippedTotal.inc();
      if (this.skipped.size >= MAX_SKIPPED_ADDRESSES && !this.skipped.has(address)) this.skipped.clear();
      this.skipped.set(address, (this.skipped.get(address) ?? 0) + 1);
      return undefined;
    }
    const skipped = this.skipped.get(address);
    if (skipped === undefined) return 0;
    this.skipped.delete(address);
    return skipped;
  }

  /** Writes the request's line once its answer is done, within its address's budget. */
  request(req: HttpRequest, res: HttpResponse): void {
    if (!this.on) return;
    const skipped = this.take(this.options.addressOf(req));
    if (skipped === undefined) return;
    const logger = this.logger;
    const started = performance.now();
    // Read now: an HTTP/2 request's socket is its stream's view of the connection, gone with the stream.
    const address = req.socket.remoteAddress;
    const h1Socket = isHttp2(req) ? undefined : req.socket;
    const before = h1Socket?.bytesWritten ?? 0;
    const w: Who = { member: '', transport: '' };
    who.set(req, w);
    noting = true;
    // A response closes once: `on`, without the wrapper `once` makes per call.
    res.on('close', () => {
      logger.info(
        {
          method: req.method,
          path: (asked.get(req) ?? req.url ?? '/').split('?')[0]!.slice(0, 200),
          status: res.headersSent ? res.statusCode : 0,
          ms: Math.round(performance.now() - started),
          ...(h1Socket ? { bytes: Math.max(0, h1Socket.bytesWritten - before) } : { http: 2 }),
          ...(w.transport || w.member ? { transport: w.transport || 'http', member: w.member } : {}),
          address,
          ...(skipped > 0 ? { skipped } : {}),
        },
        'request',
      );
    });
  }
}
