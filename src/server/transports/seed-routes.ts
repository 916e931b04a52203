import { serialize as serializeCookie } from 'cookie';
import { DEFAULT_ROOM } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { MessageEntry, PollResult } from '../../protocol/types.js';
import { isEpochCursor } from '../../protocol/cursor.js';
import { SEED_SSE, seedJson, seedMessage, seedShows } from '../codecs.js';
import type { ServerContext } from '../context.js';
import type { ConnectionRegistry } from '../connection-registry.js';
import { readCookies } from '../cookie-reader.js';
import { closeAfter, headOnly, messageBodyLimit, readJsonBody, responseGone, sendJson, type HttpRequest, type HttpResponse } from '../http-util.js';
import type { PollReply } from '../hub.js';
import type { Handler, Router } from '../router.js';
import type { Session } from '../session/session.js';
import { heldSession, requestSession } from './request-session.js';
import { SSE_HEADERS } from './sse-sink.js';
import { headerValue, openSseSession } from './sse.js';

/** The poll routes answer with answerOne's headers, the common ones among them. */
const OWN_HEADERS = { writesCommonHeaders: true };

/** An SSE id of ours (`<epoch>:<seq>` or `<seq>`). Made once: a regular expression literal is a new object each time it is evaluated. */
const EVENT_ID = /^(?:[A-Za-z0-9_-]{1,32}:)?\d{1,15}$/;

/** Cookie that holds a polling lecture client's cursor, so no client loses a message between polls. */
export const SEED_COOKIE = 'sb_seed';

/** Cookie holding a lecture polling client's presence ticket, so it counts in presence like any other client. */
export const GUEST_COOKIE = 'sb_guest';

/**
 * The lecture's routes, byte-compatible with its ch09-ch12 pages, as a dialect over sessions in
 * the default room: `GET /poll` (204, or 200 with one `{text, timestamp}`), `GET /longpoll`
 * (held; 408 on timeout), `GET /subscribe` (SSE), `POST /update` (publish; 400 `{error}` without
 * text). Their clients are guests (or the user of an `sb_token` cookie), with the rights guests
 * have. Unlike the lecture, a poll client that sends no cursor gets one by cookie, and each
 * answer carries the next message after it: several messages between two polls come over
 * successive polls. A client without a cursor starts at the end of the log.
 */
export function registerSeedRoutes(router: Router, ctx: ServerContext): void {
  const { config } = ctx;
  // The heads of a request's answers: its origin's (Router.headersOf), one SeedHeads for each set
  // of headers the router gives (the common ones, and one per allowed origin that asked).
  const byHeaders = new Map<Head, SeedHeads>();
  const headsOf = (req: HttpRequest): SeedHeads => {
    const common = router.headersOf(req);
    let heads = byHeaders.get(common);
    if (heads === undefined) byHeaders.set(common, (heads = new SeedHeads(common)));
    return heads;
  };

  const lecturePoll: Handler = (req, res, _params, url) => {
    const made = requestSession(ctx, req, url, 'polling', {});
    if (made instanceof Promise) return made.then((session) => new LecturePoll(router, headsOf(req), req, res, session).start());
    new LecturePoll(router, headsOf(req), req, res, made).start();
  };
  router.on('GET', '/poll', lecturePoll, OWN_HEADERS);
  // HEAD holds nothing: answered at once, as HEAD /poll is.
  router.on('HEAD', '/longpoll', lecturePoll, OWN_HEADERS);

  router.on('GET', '/longpoll', (req, res, _params, url) => {
    // A draining node holds nothing new: answered at once (408 when there is nothing), as the held polls are.
    const draining = ctx.connections.draining;
    const timeoutMs = draining ? 0 : config.longPollTimeoutMs;
    const made = draining ? requestSession(ctx, req, url, 'long-polling') : heldSession(ctx, req, res, url, 'long-polling');
    if (made instanceof Promise) return made.then((held) => new LectureLongPoll(router, headsOf(req), req, res, held, ctx.connections).start(timeoutMs));
    new LectureLongPoll(router, headsOf(req), req, res, made, ctx.connections).start(timeoutMs);
  }, OWN_HEADERS);

  router.on('GET', '/subscribe', async (req, res, _params, url) => {
    const lastId = headerValue(req.headers['last-event-id']) ?? url.searchParams.get('lastEventId') ?? undefined;
    const { session, open } = await openSseSession(ctx, req, res, url, SEED_SSE, {});
    try {
      // EventSource gives up on an error answer: an id that is not ours (another server's), or
      // one of a reset history, starts at the end, as a new client would.
      const after = lastId && EVENT_ID.test(lastId) ? lastId : undefined;
      await session.subscribe(DEFAULT_ROOM, { after, create: true, resetToEnd: true }, () => open());
    } catch (err) {
      if (!res.headersSent) {
        session.close();
        throw err;
      }
      ctx.logger.warn({ err }, 'lecture SSE stream could not start');
      session.close(); // EventSource reconnects after `retry`
    }
  }, { opensStream: true });

  // HEAD opens no stream: checked as the GET is (who the client is, its right to read), answered at once with the stream's head.
  router.on('HEAD', '/subscribe', async (req, res, _params, url) => {
    const session = await requestSession(ctx, req, url, 'sse', {});
    ctx.policy.authorize(session.principal, DEFAULT_ROOM, 'read');
    res.writeHead(200, SSE_HEADERS).end();
  });

  router.on('POST', '/update', async (req, res, _params, url) => {
    const body = await readJsonBody(req, messageBodyLimit(config.maxMessageBytes));
    const text = (body as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || text === '') throw new SwitchboardError('TEXT_REQUIRED');
    const session = await requestSession(ctx, req, url, 'seed', {}, true);
    // The answer says what was stored: an onPublish hook may have changed the text.
    let stored = text;
    const ack = await session.publish(DEFAULT_ROOM, { text }, (message) => (stored = message.text));
    sendJson(res, 200, seedMessage({ type: 'message', room: DEFAULT_ROOM, seq: ack.seq, ts: ack.ts, from: { id: '', name: '' }, text: stored }));
  }, { readsBody: true });
}

/**
 * A lecture `GET /poll`: 204 (or 200 with the next message) and the cursor cookie. Answered
 * through the session's PollReply: no promise on the way of a poll whose answer needs no read.
 */
class LecturePoll implements PollReply {
  private cursor: string | undefined;

  constructor(
    private readonly router: Router,
    private readonly heads: SeedHeads,
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly session: Session,
  ) {}

  /**
   * Reads the cookies and polls; throws what they throw (the router answers). A HEAD changes
   * nothing: no ticket issued or used (presence), no cookie set (a cursor moved past a message
   * whose body was not sent would lose it).
   */
  start(): void {
    const cookies = pollCookies(this.req);
    this.cursor = cookieCursor(cookies);
    const ticket = headOnly(this.res) ? undefined : guestTicket(this.session, cookies, this.res);
    this.session.pollTo(DEFAULT_ROOM, this.cursor ?? endCursor, 100, ticket, this);
  }

  answer(result: PollResult): void {
    try {
      const next = nextCursor(this.session, result);
      if (typeof next === 'string') this.answerWith(result, next);
      else next.then((n) => this.answerWith(result, n), (err: unknown) => this.fail(err));
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err: unknown): void {
    forgetDisconnectedGuest(this.res, err);
    this.router.fail(this.res, err, this.req);
  }

  private answerWith(result: PollResult, next: string): void {
    try {
      answerOne(this.heads, this.res, this.cursor === undefined ? undefined : result, next, 204);
    } catch (err) {
      this.fail(err);
    }
  }
}

/**
 * A lecture `GET /longpoll`: held until a message the lecture shows comes (presence and data-only
 * messages are skipped: held again past them), or until the timeout (408), or until the session
 * closes; then the session closes.
 */
class LectureLongPoll implements PollReply {
  private cursor: string | undefined;
  private ticket: string | undefined;
  private deadline = 0;
  /** The whole timeout, the first hold's (see hold); the holds after it get what is left of it. */
  private timeoutMs = 0;
  private heldBefore = false;
  /** True while `hold` runs: an answer that comes at once holds again from its loop, not by recursion. */
  private holding = false;
  private again = false;

  constructor(
    private readonly router: Router,
    private readonly heads: SeedHeads,
    private readonly req: HttpRequest,
    private readonly res: HttpResponse,
    private readonly held: Session,
    /** While they drain, the answer closes its connection: the next poll goes elsewhere. */
    private readonly connections: ConnectionRegistry,
  ) {}

  /** Reads the cookies and holds; throws what they throw (the router answers), the session closed. */
  start(timeoutMs: number): void {
    try {
      const cookies = pollCookies(this.req);
      this.ticket = guestTicket(this.held, cookies, this.res);
      this.cursor = cookieCursor(cookies) ?? endCursor;
      this.timeoutMs = timeoutMs;
      this.deadline = Date.now() + timeoutMs;
    } catch (err) {
      this.held.close();
      throw err;
    }
    this.hold();
  }

  answer(result: PollResult): void {
    try {
      if (result.reset || result.entries.some(seedShows) || Date.now() >= this.deadline || this.held.closed) {
        const next = nextCursor(this.held, result);
        if (typeof next === 'string') this.finish(result, next);
        else next.then((n) => this.finish(result, n), (err: unknown) => this.fail(err));
        return;
      }
      this.cursor = result.cursor; // nothing the lecture shows (presence, data-only messages): skip it and keep waiting
      if (this.holding) this.again = true;
      else this.hold();
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err: unknown): void {
    this.held.close();
    forgetDisconnectedGuest(this.res, err);
    this.router.fail(this.res, err, this.req);
  }

  private hold(): void {
    this.holding = true;
    do {
      this.again = false;
      // The first hold (the only one of nearly every poll) for the whole timeout, not for what is
      // left of it a millisecond later: polls held for one duration share one timer queue
      // (PollTimers). Spread over 25,000 and 24,999 ms, the lecture's long polls promoted some
      // 250 bytes per request to the old generation, against 35 when held alike (costs.ts poll).
      const ms = this.heldBefore ? Math.max(0, this.deadline - Date.now()) : this.timeoutMs;
      this.heldBefore = true;
      this.held.holdPoll(DEFAULT_ROOM, this.cursor, 100, ms, this.ticket, this);
    } while (this.again);
    this.holding = false;
  }

  private finish(result: PollResult, next: string): void {
    if (this.connections.closesAfterAnswers) closeAfter(this.res);
    try {
      answerOne(this.heads, this.res, result, next, 408);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.held.close();
  }
}

/** A lecture poll's answer that carries a message: its body and its head, with the cookie of the cursor past it or without. */
interface SeedAnswer {
  /** The history the cookie's cursor is of. */
  epoch: string;
  body: string;
  cookie: string;
  headers: Readonly<Record<string, string>>;
  withCookie: Readonly<Record<string, string>>;
}

/** The cursor meaning "the end of the log now" (a client that has none starts there). */
const endCursor = undefined;

/** Where a lecture poller goes next: past what it read, or, when its cursor had to be reset, the end. */
function nextCursor(session: Session, result: PollResult): string | Promise<string> {
  return result.reset ? session.poll(DEFAULT_ROOM, endCursor, 1).then((end) => end.cursor) : result.cursor;
}

/**
 * The presence ticket of a lecture polling client, from its `sb_guest` cookie. A client without
 * a valid one gets one, issued like any presence join (limited per address), and counts from its
 * next request on: one that keeps no cookies (curl) never joins, so never leaves either.
 */
function guestTicket(session: Session, cookies: PollCookies, res: HttpResponse): string | undefined {
  const raw = cookies[GUEST_COOKIE];
  if (raw && session.validTicket(DEFAULT_ROOM, raw)) return raw;
  const ticket = session.issueTicket(DEFAULT_ROOM);
  if (ticket) res.appendHeader('set-cookie', serializeCookie(GUEST_COOKIE, ticket, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 24 * 3600 }));
  return undefined;
}

/**
 * A lecture poller an administrator disconnected gets MEMBER_DISCONNECTED once, with its guest
 * cookie cleared: the lecture's pages have no "join again" and poll on, and the ticket of the
 * disconnected connection would be refused for as long as the order is remembered (a day): a
 * disconnect, not a ban. Its next poll is a new guest's.
 */
function forgetDisconnectedGuest(res: HttpResponse, err: unknown): void {
  if (err instanceof SwitchboardError && err.code === 'MEMBER_DISCONNECTED' && !res.headersSent) {
    res.appendHeader('set-cookie', serializeCookie(GUEST_COOKIE, '', { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 0 }));
  }
}

function cookieCursor(cookies: PollCookies): string | undefined {
  const value = cookies[SEED_COOKIE];
  return value && isEpochCursor(value) ? value : undefined;
}

/** The two cookies a lecture poll reads. */
type PollCookies = Partial<Record<typeof SEED_COOKIE | typeof GUEST_COOKIE, string>>;

const NO_COOKIES: PollCookies = Object.freeze({});

/**
 * The request's two cookies as `cookie`'s parse reads them (the first of each name, %-decoded),
 * read in one pass (readCookies: the header's other cookies are not sliced), and not at all when
 * neither is there.
 */
function pollCookies(req: HttpRequest): PollCookies {
  const header = req.headers.cookie;
  if (!header || (!header.includes(SEED_COOKIE) && !header.includes(GUEST_COOKIE))) return NO_COOKIES;
  const values = readCookies(header, POLL_COOKIES);
  return { sb_seed: values[0], sb_guest: values[1] };
}

const POLL_COOKIES = [SEED_COOKIE, GUEST_COOKIE] as const;

type Head = Readonly<Record<string, string>>;

/**
 * The headers of an answer without a message, with the cursor's cookie (`cookie`) or without it:
 * a 204 has no body to frame; a 408 says its empty body's length (without it node frames it
 * chunked: `Transfer-Encoding: chunked` and a lone last chunk, a stray `0` line in `nc`).
 */
interface EmptyHeads {
  noContent: Head;
  timeout: Head;
}

function emptyHead(status: number, heads: EmptyHeads): Head {
  return status === 204 ? heads.noContent : heads.timeout;
}

/**
 * The heads and bodies of a server's lecture answers, each with one set of the router's headers
 * (the common ones, its node's name among them when it says it; or those and one origin's CORS
 * headers: Router.headersOf), made once however many pollers they go to.
 */
class SeedHeads {
  /** The heads of an empty answer that sets no cookie. */
  readonly empty: EmptyHeads;
  private readonly answers = new WeakMap<MessageEntry, SeedAnswer>();
  /** The pollers of one delivery move to the same cursor: its cookie and heads are made once for them all. */
  private lastCursor: { cursor: string; cookie: string; heads: EmptyHeads };

  constructor(private readonly common: Head) {
    this.empty = { noContent: common, timeout: { ...common, 'content-length': '0' } };
    this.lastCursor = { cursor: '', cookie: '', heads: this.empty };
  }

  /** The answer that carries `message` (of history `epoch`). */
  answer(message: MessageEntry, epoch: string): SeedAnswer {
    let known = this.answers.get(message);
    // Looked up first: no cursor text made per poll for an answer made already.
    if (known === undefined || known.epoch !== epoch) {
      const cookie = this.cursor(`${epoch}:${message.seq}`).cookie;
      const body = `${seedJson(message)}\n`;
      const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)), ...this.common };
      this.answers.set(message, (known = { epoch, body, cookie, headers, withCookie: { ...headers, 'set-cookie': cookie } }));
    }
    return known;
  }

  /**
   * The cursor's cookie, as `cookie`'s serialize writes it (a cursor is `<epoch>:<seq>`, base64url
   * and digits: only its colon needs encoding, nothing needs checking), and the heads of an empty
   * answer that sets it.
   */
  cursor(cursor: string): { cursor: string; cookie: string; heads: EmptyHeads } {
    if (cursor !== this.lastCursor.cursor) {
      const cookie = `${SEED_COOKIE}=${cursor.replace(':', '%3A')}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`;
      const noContent = { 'set-cookie': cookie, ...this.common };
      this.lastCursor = { cursor, cookie, heads: { noContent, timeout: { ...noContent, 'content-length': '0' } } };
    }
    return this.lastCursor;
  }
}

/**
 * Answers with the first message of `result` the lecture shows (seedShows: 200) and moves the
 * cookie just past it, or with `emptyStatus` and the cookie at `next` (past everything read, or
 * the end for a new client).
 */
function answerOne(heads: SeedHeads, res: HttpResponse, result: PollResult | undefined, next: string, emptyStatus: number): void {
  if (res.headersSent || responseGone(res)) return;
  const message = result && !result.reset ? result.entries.find(seedShows) : undefined;
  const answer = message ? heads.answer(message, result!.epoch) : undefined;
  if (headOnly(res)) {
    // The head of the GET's answer, without its cookie (see LecturePoll.start).
    res.writeHead(answer ? 200 : emptyStatus, answer ? answer.headers : emptyHead(emptyStatus, heads.empty)).end();
    return;
  }
  const empty = answer ? undefined : heads.cursor(next);
  // A guest ticket's cookie is set already: the cursor cookie goes first (clients that read one Set-Cookie take this one).
  const others = res.getHeader('set-cookie');
  if (others !== undefined) res.setHeader('set-cookie', [answer?.cookie ?? empty!.cookie, ...(Array.isArray(others) ? others : [String(others)])]);
  if (!answer) {
    res.writeHead(emptyStatus, emptyHead(emptyStatus, others === undefined ? empty!.heads : heads.empty)).end();
    return;
  }
  res.writeHead(200, others === undefined ? answer.withCookie : answer.headers);
  res.end(answer.body);
}
