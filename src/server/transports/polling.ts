import type { PollResult } from '../../protocol/types.js';
import type { ServerContext } from '../context.js';
import { entryJson } from '../batch.js';
import type { ConnectionRegistry } from '../connection-registry.js';
import { closeAfter, headOnly, responseGone, type HttpRequest, type HttpResponse, type RequestUrl } from '../http-util.js';
import type { PollReply, SeenNotices } from '../hub.js';
import type { Router } from '../router.js';
import type { Session } from '../session/session.js';
import { intParam } from './http-api.js';
import { heldSession, requestSession } from './request-session.js';

/**
 * Short polling (`GET /api/rooms/:room/poll`) answers at once with what follows the cursor;
 * long polling (`GET /api/rooms/:room/longpoll`) holds the request until something does, or
 * until the timeout, then answers with no entries. Both answer a PollResult whose `cursor` is
 * the `after` of the next request, so nothing is lost between two requests. A request that
 * carries a presence ticket (`session`, from `POST /api/rooms/:room/presence`) keeps its member
 * present; GETs without one never touch presence.
 */
export function registerPolling(router: Router, ctx: ServerContext): void {
  const { config } = ctx;

  router.on('GET', '/api/rooms/:room/poll', (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    return pollNow(router, ctx, req, res, params.room!, url, limit, 'polling');
  }, OWN_HEADERS);

  router.on('GET', '/api/rooms/:room/longpoll', (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const timeout = intParam(url, 'timeout', 0, 120_000) ?? config.longPollTimeoutMs;
    // The room's latest presence and typing notices the client knows of (see Hub.holdPoll).
    const seen: SeenNotices = { presenceAt: intParam(url, 'presenceAt', 0, Number.MAX_SAFE_INTEGER), typingAt: intParam(url, 'typingAt', 0, Number.MAX_SAFE_INTEGER) };
    // A draining node holds nothing new: what follows the cursor at once (its connection closing
    // after it), as the held polls are answered, so the next poll goes elsewhere without an error.
    if (ctx.connections.draining) return pollNow(router, ctx, req, res, params.room!, url, limit, 'long-polling');
    const made = heldSession(ctx, req, res, url, 'long-polling');
    if (made instanceof Promise) return made.then((session) => longPoll(router, req, res, session, params.room!, url, limit, timeout, ctx.connections, seen));
    longPoll(router, req, res, made, params.room!, url, limit, timeout, ctx.connections, seen);
  }, OWN_HEADERS);

  // HEAD holds nothing: answered at once, as a GET with `timeout=0` is (what a short poll answers).
  router.on('HEAD', '/api/rooms/:room/longpoll', (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    // Checked as a GET checks them: the same request gets the same status either way.
    intParam(url, 'timeout', 0, 120_000);
    intParam(url, 'presenceAt', 0, Number.MAX_SAFE_INTEGER);
    intParam(url, 'typingAt', 0, Number.MAX_SAFE_INTEGER);
    return pollNow(router, ctx, req, res, params.room!, url, limit, 'long-polling');
  }, OWN_HEADERS);
}

/** A poll answered at once (a short poll, a HEAD, a draining node's long poll), in a session for the request: at once, or once its handshake is done. */
function pollNow(router: Router, ctx: ServerContext, req: HttpRequest, res: HttpResponse, room: string, url: RequestUrl, limit: number, transport: 'polling' | 'long-polling'): Promise<void> | undefined {
  const made = requestSession(ctx, req, url, transport);
  if (made instanceof Promise) return made.then((session) => poll(router, req, res, session, room, url, limit));
  poll(router, req, res, made, room, url, limit);
  return undefined;
}

/** A short poll; a HEAD (which changes nothing) keeps no one present with its ticket. */
function poll(router: Router, req: HttpRequest, res: HttpResponse, session: Session, room: string, url: RequestUrl, limit: number): void {
  const ticket = headOnly(res) ? undefined : (url.searchParams.get('session') ?? undefined);
  session.pollTo(room, url.searchParams.get('after') ?? undefined, limit, ticket, new PollAnswer(router, req, res, session, false));
}

function longPoll(router: Router, req: HttpRequest, res: HttpResponse, session: Session, room: string, url: RequestUrl, limit: number, timeout: number, connections: ConnectionRegistry, seen: SeenNotices): void {
  session.holdPoll(room, url.searchParams.get('after') ?? undefined, limit, timeout, url.searchParams.get('session') ?? undefined, new PollAnswer(router, req, res, session, true, connections), seen);
}

/**
 * A poll's answer to its response: the PollResult as JSON (its size charged to the session's
 * `read` budget), or the router's error answer. A held poll's session is closed once it
 * answered (before the error answer, as a route's `finally`).
 * A held poll answered while the node drains (by the shutdown) closes its connection: the next
 * poll goes elsewhere, on a connection of its own.
 */
class PollAnswer implements PollReply {
  constructor(
    private readonly router: Router,
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly session: Session,
    /** A held poll's session, made for it: closed once it answered. */
    private readonly held: boolean,
    private readonly connections?: ConnectionRegistry,
  ) {}

  answer(result: PollResult): void {
    if (this.connections?.closesAfterAnswers) closeAfter(this.res);
    try {
      this.session.chargeRead(sendPollJson(this.res, result, this.router.headersOf(this.req)));
    } catch (err) {
      this.router.fail(this.res, err, this.req);
    } finally {
      if (this.held) this.session.close();
    }
  }

  fail(err: unknown): void {
    if (this.held) this.session.close();
    this.router.fail(this.res, err, this.req);
  }
}

/** The poll routes answer with sendPollJson's headers, the common ones among them. */
const OWN_HEADERS = { writesCommonHeaders: true };

const pollJson = new WeakMap<PollResult, { json: string; bytes: number; common: Readonly<Record<string, string>>; headers: Record<string, string> }>();

/**
 * Sends a PollResult with `common` headers (the router's headersOf the request); a result shared by
 * several polls (held at one position, or asking at one position: see PollAnswers) is encoded
 * once, with its headers. With its length: one write of headers and body. Returns the bytes of
 * body sent (0 for a HEAD, or when the client is gone).
 */
export function sendPollJson(res: HttpResponse, result: PollResult, common: Readonly<Record<string, string>>): number {
  let encoded = pollJson.get(result);
  if (encoded === undefined || encoded.common !== common) {
    const json = encoded?.json ?? pollResultJson(result);
    const bytes = encoded?.bytes ?? Buffer.byteLength(json);
    const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(bytes), ...common };
    pollJson.set(result, (encoded = { json, bytes, common, headers }));
  }
  if (res.headersSent || responseGone(res)) return 0;
  res.writeHead(200, encoded.headers);
  if (headOnly(res)) {
    res.end();
    return 0;
  }
  res.end(encoded.json);
  return encoded.bytes;
}

/**
 * A PollResult's JSON, its entries' from entryJson: an entry is encoded once per process however
 * many polls carry it (pollers behind the head each ask at their own cursor, so their answers are
 * not shared, but their entries are, from the store's tail). `entries` comes first.
 */
export function pollResultJson(result: PollResult): string {
  const { entries, ...rest } = result;
  let json = '{"entries":[';
  for (let i = 0; i < entries.length; i++) json += (i === 0 ? '' : ',') + entryJson(entries[i]!);
  const others = JSON.stringify(rest);
  return others === '{}' ? `${json}]}` : `${json}],${others.slice(1)}`;
}
