import FindMyWay from 'find-my-way';
import { SwitchboardError } from '../protocol/errors.js';
import type { ServerContext } from './context.js';
import { IGNORED_BODY_BYTES, QueryUrl, bodyToCome, closeUnread, hasBody, sendError, type HttpRequest, type HttpResponse, type RequestUrl } from './http-util.js';
import { originAllowed } from './session/handshake.js';

export type Params = Record<string, string | undefined>;
/** A route's handler: the same for HTTP/1.x and HTTP/2 requests (see HttpRequest). */
export type Handler = (req: HttpRequest, res: HttpResponse, params: Params, url: RequestUrl) => Promise<void> | void;
/**
 * A route's method. HEAD runs a path's GET route (node writes no body for it) unless the path has
 * a HEAD route of its own: the routes that hold or stream have one, which answers at once.
 */
export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** On every answer: no MIME sniffing, no Referer leaking room names or tokens in URLs. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = Object.freeze({ 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });

/** Options of a route. */
export interface RouteOptions {
  /**
   * The route puts the router's commonHeaders in every `writeHead` of its own (its errors go through the
   * router, which adds them): its answers then set no header one by one, and node writes the
   * head from the route's object as it is (the hottest routes, polls, answer with prebuilt ones).
   */
  writesCommonHeaders?: boolean;
  /**
   * The route opens a long-lived stream (SSE): when requests wait for a turn, it runs at once,
   * as a WebSocket upgrade does, instead of waiting behind its address's polls and REST calls
   * (a client reconnecting after a restart would wait for every poll of its address). Opens
   * are bounded as upgrades are: the `connect` rate of the address and the connection caps.
   */
  opensStream?: boolean;
  /**
   * The route reads a request body (readJsonBody). A body sent to any other route is not
   * wanted: at most IGNORED_BODY_BYTES of it are let through, and read and dropped by node.
   */
  readsBody?: boolean;
}

/** A route as added: its method and path pattern (find-my-way's: `:room` a parameter). */
export interface RouteInfo {
  readonly method: Method;
  readonly path: string;
}

/** The options of no route (a request that found none). */
const NO_OPTIONS: RouteOptions = Object.freeze({});

/** What find-my-way finds for a path: the handler `on` stored, its params, its store. */
interface Found {
  handler: unknown;
  params: Params;
  store: unknown;
}

/** Found routes remembered per method, and the longest path remembered. */
const ROUTE_CACHE = 1024;
const MAX_CACHED_PATH = 256;

/**
 * Routes HTTP requests (find-my-way, fastify's router) and applies what every route shares:
 * the Origin list and CORS, common security headers, and one error path that turns any throw
 * into a catalog error body. Who the client is and what it may do is the session's business
 * (handlers make one, see session/handshake.ts), not the router's.
 */
export class Router {
  // maxParamLength: a parameter longer than find-my-way's default (100) made no route match, so a
  // room name of 101+ characters was 404 NOT_FOUND; the routes check their parameters themselves
  // (INVALID_ROOM_NAME). Node's header limit (16 KB) bounds the path.
  private readonly fmw = FindMyWay({ ignoreTrailingSlash: true, caseSensitive: true, maxParamLength: 16_384 });
  /**
   * The routes of the paths most asked, by method and path (a poller asks the same path again and
   * again): a Map lookup instead of a walk of the tree and a params object per request. Found
   * routes only, of short paths, at most ROUTE_CACHE per method; emptied when a route is added.
   */
  private readonly found = new Map<string, Map<string, Found>>();
  private readonly added: RouteInfo[] = [];
  /** originHeaders' objects, by origin (`*` for all when any is allowed): at most one per origin of the `origins` list. */
  private readonly byOrigin = new Map<string, Readonly<Record<string, string>>>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly fallback: (req: HttpRequest, res: HttpResponse) => void,
  ) {}

  /** Adds a route; its handler's throws become catalog error answers. */
  on(method: Method, path: string, handler: Handler, options: RouteOptions = {}): void {
    // Not an async wrapper: a held request would keep its frame (and a promise) for nothing.
    const run = (req: HttpRequest, res: HttpResponse, params: Params): void => {
      let answer: Promise<void> | void;
      try {
        answer = handler(req, res, params, new QueryUrl(req.url ?? '/'));
      } catch (err) {
        this.fail(res, err, req);
        return;
      }
      if (answer) answer.catch((err: unknown) => this.fail(res, err, req));
    };
    // The options are find-my-way's store of the route.
    this.fmw.on(method, path, run, Object.freeze({ ...options }));
    this.found.clear();
    this.added.push(Object.freeze({ method, path }));
  }

  /** The headers every answer carries (commonHeaders): routes that write their own heads put them in. */
  get commonHeaders(): Readonly<Record<string, string>> {
    return this.ctx.commonHeaders;
  }

  /**
   * The headers of `req`'s answer: the common ones and, for a page of an allowed Origin, its
   * CORS headers (a refused Origin's answer has none). One object per origin, made once: the
   * routes that write their own heads (polls) put it in them, so that a page on another origin
   * gets its polls answered as fast as its own origin's (node's `writeHead` with headers set one
   * by one before merges them per answer).
   */
  headersOf(req: HttpRequest): Readonly<Record<string, string>> {
    const origin = req.headers.origin;
    return origin === undefined || !originAllowed(origin, this.ctx.config.origins) ? this.ctx.commonHeaders : this.originHeaders(origin);
  }

  /**
   * The headers of an answer to a page of `origin`, an allowed one: with `*` in the list, any page
   * may read answers, never with the user's cookies (tokens go in the Authorization header), one
   * object for all; else that origin, with credentials, one object per origin of the list.
   */
  private originHeaders(origin: string): Readonly<Record<string, string>> {
    const key = this.ctx.config.origins.includes('*') ? '*' : origin;
    let headers = this.byOrigin.get(key);
    if (headers === undefined) {
      const cors: Record<string, string> =
        key === '*' ? { 'access-control-allow-origin': '*' } : { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'Origin' };
      headers = Object.freeze({ ...this.ctx.commonHeaders, ...cors, 'access-control-expose-headers': 'retry-after' });
      this.byOrigin.set(key, headers);
    }
    return headers;
  }

  /** The routes added, in order. */
  get routes(): readonly RouteInfo[] {
    return this.added;
  }

  handle(req: HttpRequest, res: HttpResponse): void {
    this.ctx.accessLog.request(req, res);
    // OPTIONS has no route: the CORS preflight below answers it.
    const found = req.method === 'OPTIONS' ? null : this.routeOf(req);
    const options = (found?.store ?? NO_OPTIONS) as RouteOptions;
    // A body nobody reads (IGNORED_BODY_BYTES): refused on a route; elsewhere (404, 405, a file,
    // a preflight) answered as ever, with the connection closed and the body not read.
    if (!options.readsBody && hasBody(req)) {
      if (found === null) {
        if (bodyToCome(req)) closeUnread(req, res);
      } else if (this.unwantedBody(req, res)) return;
    }
    const origin = req.headers.origin;
    let headers = this.ctx.commonHeaders;
    if (origin !== undefined) {
      if (!originAllowed(origin, this.ctx.config.origins)) {
        this.fail(res, new SwitchboardError('ORIGIN_NOT_ALLOWED', origin.slice(0, 100)), req);
        return;
      }
      headers = this.originHeaders(origin);
    }
    if (req.method === 'OPTIONS') {
      setCommonHeaders(res, headers);
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE, OPTIONS',
        'access-control-allow-headers': 'content-type, authorization, last-event-id',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (!found) {
      // A path that does not decode is no route's: find-my-way finds none for it.
      const bad = badEscape(pathOf(req));
      if (bad !== undefined) {
        this.fail(res, new SwitchboardError('BAD_REQUEST', bad), req);
        return;
      }
      setCommonHeaders(res, headers);
      this.fallback(req, res);
      return;
    }
    if (!options.writesCommonHeaders) setCommonHeaders(res, headers);
    // The handlers stored by `on` take either protocol's objects (find-my-way's types are per version).
    (found.handler as unknown as (req: HttpRequest, res: HttpResponse, params: Params) => void)(req, res, found.params);
  }

  /** True when the request's route opens a stream (RouteOptions.opensStream). */
  opensStream(req: HttpRequest): boolean {
    return (this.routeOf(req)?.store as RouteOptions | undefined)?.opensStream === true;
  }

  /** The route of a request: a HEAD without a route of its own takes its path's GET route. */
  private routeOf(req: HttpRequest): Found | null {
    const method = req.method as Method;
    const path = pathOf(req);
    const found = this.route(method, path);
    return found === null && method === 'HEAD' ? this.route('GET', path) : found;
  }

  /** find-my-way's route of `method` and `path`, through the cache of found routes. */
  private route(method: Method, path: string): Found | null {
    let byPath = this.found.get(method);
    if (byPath === undefined) this.found.set(method, (byPath = new Map()));
    const known = byPath.get(path);
    if (known !== undefined) return known;
    const found = this.fmw.find(method, path) as Found | null;
    if (found !== null && path.length <= MAX_CACHED_PATH) {
      if (byPath.size >= ROUTE_CACHE) byPath.clear();
      // Frozen: every request of this path shares its params.
      Object.freeze(found.params);
      byPath.set(path, found);
    }
    return found;
  }

  /** The methods `path` has a route for (HEAD wherever GET is; OPTIONS is the CORS preflight's), as an `Allow` header lists them. */
  methodsOf(path: string): string[] {
    const methods = (['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const).filter((m) => this.fmw.find(m, path) !== null || (m === 'HEAD' && this.fmw.find('GET', path) !== null));
    return methods.length > 0 ? [...methods, 'OPTIONS'] : [];
  }

  /**
   * A body sent to a route that reads none (see IGNORED_BODY_BYTES): true when the request is
   * refused for it. A declared length past the bytes let through is refused at once. A chunked
   * body's length is known only as it comes: it is counted, and past those bytes the request is
   * refused if its answer has not begun (a held poll's has not), its connection cut if it has.
   */
  private unwantedBody(req: HttpRequest, res: HttpResponse): boolean {
    const length = req.headers['content-length'];
    if (length !== undefined) {
      // Node has checked that it is digits.
      if (Number(length) <= IGNORED_BODY_BYTES) return false;
      this.refuseBody(req, res, `${length} bytes`);
      return true;
    }
    // Chunked: HTTP/1.1 only (HTTP/2 has no Transfer-Encoding; its flow control bounds a stream).
    let seen = 0;
    const count = (chunk: Buffer | string): void => {
      seen += chunk.length;
      if (seen <= IGNORED_BODY_BYTES) return;
      req.off('data', count);
      // An answer begun (a stream, or one done and the connection kept): the connection is cut.
      if (res.headersSent) req.socket.destroy();
      else this.refuseBody(req, res, `over ${IGNORED_BODY_BYTES} bytes so far, chunked`);
    };
    req.on('data', count);
    return false;
  }

  private refuseBody(req: HttpRequest, res: HttpResponse, size: string): void {
    this.fail(res, new SwitchboardError('MESSAGE_TOO_LARGE', `${req.method} ${pathOf(req).slice(0, 100)} takes no body (at most ${IGNORED_BODY_BYTES} bytes of one are ignored): this one has ${size}`), req);
  }

  /**
   * Answers with the catalog error; a refused request is logged at warn (one line, no stack, a few
   * per code and 10 s). A request whose body is still to come, chunked or past IGNORED_BODY_BYTES
   * (refused before its body was read, or for its size), has its connection closed after the
   * answer, nothing more of it read (closeUnread): node would otherwise read the rest, whatever
   * its length, to keep the connection.
   */
  fail(res: HttpResponse, err: unknown, req?: HttpRequest): void {
    if (!res.headersSent) setCommonHeaders(res, req === undefined ? this.ctx.commonHeaders : this.headersOf(req));
    if (req !== undefined && !req.complete && bodyToCome(req)) closeUnread(req, res);
    const code = sendError(res, err, (e) => this.ctx.badInput.error('internal', { err: e }, 'internal error'));
    this.ctx.metrics.errors.inc({ code });
    if (code !== 'INTERNAL' && req) {
      this.ctx.badInput.warn(`http:${code}`, { code, method: req.method, path: (req.url ?? '').split('?')[0]!.slice(0, 200), address: req.socket.remoteAddress }, (err as Error).message.slice(0, 200));
    }
  }
}

/** A percent-escape: `%` and two hex digits. */
const ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/** What is wrong with the percent-escapes of `path` (`%ZZ`, `%4`, or bytes that are not UTF-8); undefined when it decodes. */
function badEscape(path: string): string | undefined {
  if (!path.includes('%')) return undefined;
  const bad = ESCAPE.exec(path);
  if (bad !== null) return `the path holds a malformed percent-escape ${JSON.stringify(path.slice(bad.index, bad.index + 3))} (a % takes two hex digits)`;
  try {
    decodeURIComponent(path);
    return undefined;
  } catch {
    return 'the percent-escapes of the path are not UTF-8';
  }
}

/** The path of a request's target, without its query. */
function pathOf(req: HttpRequest): string {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

function setCommonHeaders(res: HttpResponse, common: Readonly<Record<string, string>>): void {
  for (const name in common) res.setHeader(name, common[name]!);
}

/**
 * COMMON_HEADERS, and the `x-switchboard-node` of a node that says its name (`node`: the workers
 * of `--workers`). One object per server: the routes that write their own heads (polls) put it in
 * them, so no answer of theirs sets a header one by one (which sends node's `writeHead` down its
 * slow path, a merge per answer: a named node's long polls cost 5% more CPU than an unnamed one's
 * that way, and some 3% more with the name in these heads; `costs.ts poll`, 6 pairs each).
 */
export function commonHeaders(node: string | undefined): Readonly<Record<string, string>> {
  return node === undefined ? COMMON_HEADERS : Object.freeze({ ...COMMON_HEADERS, 'x-switchboard-node': node });
}
