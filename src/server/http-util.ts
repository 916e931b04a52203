import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as http2Constants, Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import getRawBody from 'raw-body';
import { SwitchboardError, type ErrorCode } from '../protocol/errors.js';
import type { RetryableError } from './session/limits.js';

/**
 * A request as routes get it: HTTP/1.x (`http.IncomingMessage`), or HTTP/2 over TLS (node's
 * compatibility `Http2ServerRequest`, one stream of a shared connection). Both carry `method`,
 * `url`, `headers`, a readable body and `setTimeout`; their `socket` differs: for HTTP/2 it is a
 * proxy whose `setTimeout` is the whole session's and whose write state is the shared TLS
 * socket's. Go through the helpers below for anything about the connection.
 */
export type HttpRequest = IncomingMessage | Http2ServerRequest;

/**
 * An answer of either protocol. `Http2ServerResponse` has no `destroyed` (its type says it has),
 * its `socket` is the shared connection's and vanishes once the stream closes, and HTTP/2 refuses
 * connection-level headers (`connection`, `keep-alive`, `transfer-encoding`): see the helpers.
 */
export type HttpResponse = ServerResponse | Http2ServerResponse;

/**
 * What a route reads of its request's URL: the query string's parameters, by name. A full `URL`
 * (what a WebSocket upgrade parses) is one; routes get a {@link QueryUrl}, which parses only the
 * query and only when asked: a WHATWG URL parse per request cost more than a held poll's bookkeeping.
 */
export interface RequestUrl {
  readonly searchParams: QueryParams;
}

/** The part of URLSearchParams that routes use: a parameter's first value, or null. */
export interface QueryParams {
  get(name: string): string | null;
}

/**
 * The query of a request target (`/path?query#fragment`), read as `new URLSearchParams(query)`
 * would read it: a parameter's first value, percent- and `+`-decoded. A query with nothing to
 * decode (no `%`, no `+`: every poll's) is not parsed at all: `get` finds the name in the text
 * and slices its value, so a poll's handful of lookups allocate their values only, not a
 * URLSearchParams with its list of every pair (~0.3 KB per request).
 */
export class QueryUrl implements RequestUrl, QueryParams {
  private readonly target: string;
  /** Where the query starts (after `?`) and ends (`#` or the end); start > end when there is none. */
  private readonly start: number;
  private readonly end: number;
  /** The parsed query, once one needs decoding. */
  private decoded: URLSearchParams | undefined;
  /** Whether the query holds a `%` or a `+` (looked at once): 0 not known yet, 1 no, 2 yes. */
  private encoded = 0;

  constructor(target: string) {
    this.target = target;
    const q = target.indexOf('?');
    const hash = target.indexOf('#', q < 0 ? 0 : q);
    this.start = q < 0 ? 1 : q + 1;
    this.end = q < 0 ? 0 : hash < 0 ? target.length : hash;
  }

  get searchParams(): QueryParams {
    return this;
  }

  get(name: string): string | null {
    const { target, start, end } = this;
    if (start > end) return null;
    if (this.encoded === 0) this.encoded = needsDecoding(target, start, end) ? 2 : 1;
    if (this.decoded === undefined && (this.encoded === 2 || !plainName(name))) this.decoded = new URLSearchParams(target.slice(start, end));
    if (this.decoded !== undefined) return this.decoded.get(name);
    // URLSearchParams drops one leading `?` of what it is given (`/x??a=1` has the parameter `a`).
    for (let pair = target.charCodeAt(start) === 0x3f ? start + 1 : start; pair < end; ) {
      let next = target.indexOf('&', pair);
      if (next < 0 || next > end) next = end;
      if (next > pair && target.startsWith(name, pair)) {
        const after = pair + name.length;
        if (after === next) return '';
        if (after < next && target.charCodeAt(after) === 0x3d /* = */) return target.slice(after + 1, next);
      }
      pair = next + 1;
    }
    return null;
  }
}

/** A name that reads the same written in a query: no `%`, `+`, `&`, `=`. */
function plainName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x25 || c === 0x2b || c === 0x26 || c === 0x3d) return false;
  }
  return true;
}

/** True when the query holds a `%` or a `+`: its names and values are not as written. */
function needsDecoding(target: string, start: number, end: number): boolean {
  const percent = target.indexOf('%', start);
  if (percent >= 0 && percent < end) return true;
  const plus = target.indexOf('+', start);
  return plus >= 0 && plus < end;
}

/** True for a request that came over HTTP/2 (one stream of a multiplexed connection). */
export function isHttp2(req: HttpRequest): req is Http2ServerRequest {
  return req instanceof Http2ServerRequest;
}

/** True once the answer can no longer be written: the client went away or it was cut. */
export function responseGone(res: HttpResponse): boolean {
  if (res instanceof Http2ServerResponse) return res.stream.destroyed || res.stream.closed;
  return res.destroyed || (res.socket?.destroyed ?? false);
}

/**
 * True while the client takes nothing more of this answer (its buffers are full). For HTTP/2 it is
 * the stream's own state (its flow-control window is spent), not the shared socket's, so one
 * reader that stops does not count against the other streams of its connection.
 */
export function writeStalled(res: HttpResponse): boolean {
  if (res instanceof Http2ServerResponse) return !res.stream.destroyed && res.stream.writableNeedDrain;
  return res.socket?.writableNeedDrain ?? false;
}

/**
 * Cuts an answer at once. HTTP/1.x: its connection is destroyed (nothing else can tell the client
 * the answer is incomplete). HTTP/2: only its stream, reset with CANCEL (a plain `destroy` would
 * reset it with NO_ERROR, which tells the client nothing went wrong); the connection goes on.
 */
export function cutResponse(res: HttpResponse): void {
  if (res instanceof Http2ServerResponse) {
    if (!res.stream.destroyed) res.stream.close(http2Constants.NGHTTP2_CANCEL);
  } else res.destroy();
}

/**
 * Lifts the inactivity deadline (`writeTimeoutMs`) of a request that is meant to stay open and
 * quiet (an SSE stream, a held long poll): it keeps its own deadlines. HTTP/1.x: the socket's
 * timeout, which is this request's alone; HTTP/2: this stream's, never the shared session's.
 */
export function holdOpen(req: HttpRequest): void {
  req.setTimeout(0);
}

/**
 * Headers of a long-lived answer that only HTTP/1.x may carry: HTTP/2 forbids connection-level
 * headers (node drops them with a warning), and its connections persist anyway.
 */
export function keepAliveHeaders(req: HttpRequest): Record<string, string> {
  return isHttp2(req) ? {} : { connection: 'keep-alive' };
}

/**
 * Writes a chunk of an answer's body. The same call on both protocols, whose declared `write`
 * overloads TypeScript cannot unite.
 */
export function writeBody(res: HttpResponse, chunk: string | Buffer): boolean {
  return res instanceof Http2ServerResponse ? res.write(chunk) : res.write(chunk);
}

/**
 * Makes an HTTP/1.x answer not yet begun close its connection after it (`Connection: close`).
 * A draining node's answers do so: a keep-alive client's next request then opens a connection
 * of its own, to another node (with workers, a new worker), instead of coming back here to be
 * refused with SHUTTING_DOWN. HTTP/2 connections are told with GOAWAY (secure-server.ts).
 */
export function closeAfter(res: HttpResponse): void {
  if (!(res instanceof Http2ServerResponse) && !res.headersSent) res.shouldKeepAlive = false;
}

/** True when the request announces a body: chunked, or of a length other than 0 (`curl -X POST` sends no length). */
export function hasBody(req: HttpRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The most of a body that a route reading none lets through (node reads it and drops it, to keep
 * the connection). Node would read any length so, to the last byte; past this a declared length
 * is refused at once (413 MESSAGE_TOO_LARGE, the connection closed), and a chunked body ends its
 * connection once it goes past it (Router.handle).
 */
export const IGNORED_BODY_BYTES = 4096;

/** True when what is left of the request's body may be more than IGNORED_BODY_BYTES: chunked, or declared so. */
export function bodyToCome(req: HttpRequest): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > IGNORED_BODY_BYTES);
}

/** How long a connection closed with a request body unread stays open after its answer (see closeUnread). */
export const UNREAD_LINGER_MS = 500;

/**
 * Closes an HTTP/1.x connection once its answer is out, reading nothing more of it: node would
 * otherwise read the rest of a request body it was not asked to, whatever its length, to keep
 * the connection. A socket closed with data unread is reset, and the reset can reach the client
 * before it has read the answer, so the socket is shut for writing when the answer is out and
 * destroyed UNREAD_LINGER_MS later, as Go's server does. HTTP/2: nothing to do (flow control
 * bounds what a stream may send unread).
 */
export function closeUnread(req: HttpRequest, res: HttpResponse): void {
  if (res instanceof Http2ServerResponse || res.headersSent) return;
  res.shouldKeepAlive = false;
  const socket = req.socket as Socket;
  stopReading(socket);
  // Node calls destroySoon once the answer of a connection that is not kept is out.
  socket.destroySoon = function lingerThenDestroy(this: Socket): void {
    this.end();
    setTimeout(() => this.destroy(), UNREAD_LINGER_MS).unref();
  };
}

/**
 * Reads no more of an HTTP/1.x connection that is to close once its answers are out: what a client
 * pipelines after that costs the server nothing (node would parse it and keep every request).
 */
export function stopReading(socket: Socket): void {
  socket.pause();
  // Node resumes the socket when an answer finishes, to read the next request: paused again at once.
  socket.on('resume', () => socket.pause());
}

/**
 * True when the answer is to a HEAD request: its head as a GET's (Content-Length too), no body.
 * HTTP/1.x drops a body given to such an answer by itself; HTTP/2 ends the stream with the head,
 * and a body written after it is an error of the stream: routes end such answers without one.
 */
export function headOnly(res: HttpResponse): boolean {
  return res.req?.method === 'HEAD';
}

/** Writes a JSON answer; returns the bytes of body sent (0 for a HEAD, or when the client is gone). */
export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
  if (res.headersSent || responseGone(res)) return 0;
  const text = JSON.stringify(body);
  const bytes = Buffer.byteLength(text);
  // With its length the answer goes out in one write (head and body together), not chunked in three.
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(bytes), ...headers });
  if (headOnly(res)) {
    res.end();
    return 0;
  }
  res.end(text);
  return bytes;
}

/** Writes the catalog error body `{code, message, error}` with the code's HTTP status. */
export function sendError(res: HttpResponse, err: unknown, onInternal?: (err: unknown) => void): ErrorCode {
  const e = toSwitchboardError(err);
  if (e.code === 'INTERNAL') onInternal?.(err);
  const headers: Record<string, string> = {};
  const retry = retryAfter(e);
  if (retry !== undefined) headers['retry-after'] = String(retry);
  // RFC 9110 §15.5.22: a 426 says what to upgrade to, as a connection option (HTTP/1.x only: HTTP/2 has none).
  if (e.code === 'UPGRADE_REQUIRED' && !(res instanceof Http2ServerResponse)) Object.assign(headers, { upgrade: 'websocket', connection: 'Upgrade' });
  sendJson(res, e.status, e.toBody(), headers);
  return e.code;
}

/** Seconds a client should wait before trying again after `e`, when that is the point of the error. */
export function retryAfter(e: SwitchboardError): number | undefined {
  const given = (e as RetryableError).retryAfter;
  if (given !== undefined) return given;
  if (e.code === 'RATE_LIMITED' || e.code === 'TOO_MANY_CONNECTIONS_FROM_YOU') return 1;
  if (e.code === 'SHUTTING_DOWN' || e.code === 'TOO_MANY_CONNECTIONS' || e.code === 'STORE_UNAVAILABLE') return 2;
  return undefined;
}

export function toSwitchboardError(err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return new SwitchboardError('INTERNAL');
}

/**
 * The largest JSON body (and native WebSocket frame) of a message: its text or data of
 * `maxMessageBytes`, which JSON escaping may make 6 times larger, and 4 KiB of the rest of the body.
 * What docs/protocol.md's limits say; the message itself is then checked against `maxMessageBytes`.
 */
export function maxBodyBytes(maxMessageBytes: number): number {
  return maxMessageBytes * 6 + 4096;
}

/** A body limit and the words of its refusal (MESSAGE_TOO_LARGE). */
export interface BodyLimit {
  bytes: number;
  tooLarge: string;
}

/**
 * The limit of a body that carries one message (maxBodyBytes), refused in terms of the limit its
 * user set and sees everywhere (`--max-message-bytes`), not only of the derived one: every route
 * that takes a message's body uses this, so they all say the same.
 */
export function messageBodyLimit(maxMessageBytes: number): BodyLimit {
  const bytes = maxBodyBytes(maxMessageBytes);
  return { bytes, tooLarge: `a message is at most ${maxMessageBytes} bytes (--max-message-bytes); this body is over the ${bytes} bytes allowed for one` };
}

/** Requests that asked `Expect: 100-continue`, and their responses, until their body is read. */
const awaitingContinue = new WeakMap<HttpRequest, HttpResponse>();

/**
 * Holds back the `100 Continue` of a request that expects one (node's `checkContinue`) until
 * readJsonBody reads its body: a request refused before (its declared size, its type, an unknown
 * route) is answered without it, and the client sends no body at all.
 */
export function continueWhenRead(req: HttpRequest, res: HttpResponse): void {
  awaitingContinue.set(req, res);
}

/**
 * Reads a JSON body: declared as JSON (UNSUPPORTED_MEDIA_TYPE otherwise: a cross-site form can
 * send text/plain without a CORS preflight, never application/json) in UTF-8 (a charset other than
 * utf-8 is UNSUPPORTED_MEDIA_TYPE too, as is a Content-Encoding other than identity), at most `limit` bytes
 * (MESSAGE_TOO_LARGE past it, without reading the rest into memory), valid UTF-8 (INVALID_UTF8),
 * valid JSON (BAD_JSON), after a byte order mark if there is one. raw-body does the reading.
 */
export async function readJsonBody(req: HttpRequest, limit: number | BodyLimit): Promise<unknown> {
  const { bytes, tooLarge } = typeof limit === 'number' ? { bytes: limit, tooLarge: `the body is over ${limit} bytes` } : limit;
  if (!isJsonType(req.headers['content-type'])) {
    throw new SwitchboardError('UNSUPPORTED_MEDIA_TYPE', `got ${JSON.stringify((req.headers['content-type'] ?? 'none').slice(0, 60))}: send Content-Type: application/json`);
  }
  const charset = charsetOf(req.headers['content-type']!);
  // The body is decoded as UTF-8 (RFC 8259, 8.1): another declared charset would be read wrong, silently.
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new SwitchboardError('UNSUPPORTED_MEDIA_TYPE', `got charset ${JSON.stringify(charset.slice(0, 40))}: send the JSON in UTF-8 (charset=utf-8, or no charset)`);
  }
  // The body is read as it comes: one declared compressed (gzip, br, ...) would be taken for its bytes.
  const coding = req.headers['content-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
    throw new SwitchboardError('UNSUPPORTED_MEDIA_TYPE', `got Content-Encoding ${JSON.stringify(coding.slice(0, 40))}: send the body uncompressed`);
  }
  const waiting = awaitingContinue.get(req);
  if (waiting !== undefined) {
    awaitingContinue.delete(req);
    // Refused by its declared size before the client sends it; else asked for.
    if (Number(req.headers['content-length']) > bytes) throw new SwitchboardError('MESSAGE_TOO_LARGE', tooLarge);
    if (!waiting.headersSent) waiting.writeContinue();
  }
  let raw: Buffer;
  try {
    const body: Readable = req; // both kinds are Readables; raw-body's declared type is narrower than what it reads
    raw = await getRawBody(body, { limit: bytes, length: req.headers['content-length'] });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw new SwitchboardError('MESSAGE_TOO_LARGE', tooLarge);
    throw new SwitchboardError('BAD_REQUEST', (err as Error).message);
  }
  if (!isUtf8(raw)) throw new SwitchboardError('INVALID_UTF8');
  // A byte order mark (EF BB BF) before the JSON, as some editors and Windows tools write: ignored (RFC 8259, 8.1).
  const text = raw.toString('utf8');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as unknown;
  } catch {
    throw new SwitchboardError('BAD_JSON');
  }
}

const JSON_SUFFIX = /^application\/[a-z0-9.+-]+\+json$/;

/** application/json, or any `+json` type, with any parameters. */
export function isJsonType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' || JSON_SUFFIX.test(type);
}

/** The `charset` parameter of a Content-Type, lower-cased and unquoted; undefined without one. */
export function charsetOf(header: string): string | undefined {
  for (const param of header.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/** UTF-8 length of a string, without allocating a buffer. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}


/**
 * True when an HTTP/1.x request carries more than one `Host` header, which RFC 9112 §3.2 says a
 * server answers 400. Node keeps the first and drops the others; Switchboard reads neither, but a
 * proxy in front that routes by the other one would be misled about what reached us.
 */
export function repeatsHost(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    if (seen) return true;
    seen = true;
  }
  return false;
}

/** `scheme://authority` at the start of a request target in absolute form (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * A request target in origin form: an absolute-form target (`GET http://host/rooms HTTP/1.1`,
 * which RFC 9112 says a server must accept, as a proxy sends it) loses its scheme and authority
 * (`/rooms`); any other target is returned as it is.
 */
export function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const origin = ABSOLUTE_FORM.exec(target);
  if (origin === null) return target;
  const rest = target.slice(origin[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}
