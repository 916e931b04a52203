import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';
import { DEFAULT_ROOM } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { PollResult } from '../../protocol/types.js';
import { seedJson, seedMessage, seedSse } from '../codecs.js';
import type { ServerContext } from '../context.js';
import { readJsonBody, sendJson, utf8Length } from '../http-util.js';
import { randomId } from '../ids.js';
import { RateLimiterMap } from '../rate-limiter-map.js';
import type { Router } from '../router.js';
import { holdRequest } from './held-request.js';
import { headerValue } from './sse.js';
import { SseStream } from './sse-stream.js';

/** Cookie that holds a polling lecture client's cursor, so no client loses a message between polls. */
export const SEED_COOKIE = 'sb_seed';

/**
 * The lecture's routes, byte-compatible with its ch09-ch12 pages, as views of the default room:
 * `GET /poll` (204, or 200 with one `{text, timestamp}`), `GET /longpoll` (held; 408 on
 * timeout), `GET /subscribe` (SSE), `POST /update` (publish; 400 `{error}` without text).
 * Unlike the lecture, a poll client that sends no cursor gets one by cookie, and each answer
 * carries the next message after it: several messages between two polls come over successive
 * polls. A client without a cursor starts at the end of the log.
 */
export function registerSeedRoutes(router: Router, ctx: ServerContext): void {
  const { hub, config } = ctx;
  const limiters = new RateLimiterMap(config.rateLimitPerSecond, config.rateLimitBurst);

  router.open('GET', '/poll', async (req, res) => {
    guestPresence(ctx, req, res, 'polling');
    const cursor = cookieCursor(req);
    const result = cursor === undefined ? undefined : await hub.poll(DEFAULT_ROOM, cursor, 100);
    answerOne(res, result, await endCursor(ctx), 204);
  });

  router.open('GET', '/longpoll', async (req, res) => {
    guestPresence(ctx, req, res, 'long-polling');
    let cursor = cookieCursor(req) ?? (await endCursor(ctx));
    const deadline = Date.now() + config.longPollTimeoutMs;
    await holdRequest(ctx, req, res, async (signal) => {
      for (;;) {
        const result = await hub.longPoll(DEFAULT_ROOM, cursor, 100, Math.max(0, deadline - Date.now()), signal);
        if (result.reset || result.entries.some((e) => e.type === 'message') || Date.now() >= deadline || signal.aborted) {
          answerOne(res, result, await endCursor(ctx), 408);
          return;
        }
        cursor = result.cursor; // only presence entries: skip them and keep waiting
      }
    });
  });

  router.open('GET', '/subscribe', async (req, res, _params, url) => {
    const state = await hub.room(DEFAULT_ROOM, true);
    const lastId = headerValue(req.headers['last-event-id']) ?? url.searchParams.get('lastEventId') ?? undefined;
    // EventSource gives up on an error answer: an id that is not ours (another server's) starts at the end.
    let start = hub.resolveStart(state, lastId && /^(?:[A-Za-z0-9_-]{1,32}:)?\d{1,15}$/.test(lastId) ? lastId : undefined);
    // A lecture client with a stale id starts at the end, as a new one would, not at the oldest entry.
    if (start.reset) start = hub.resolveStart(state, undefined);
    const stream = new SseStream(ctx, res, 'seed-sse', seedSse, false);
    const release = ctx.connections.admit('sse', stream);
    const id = randomId();
    stream.open(req);
    res.on('close', () => {
      hub.unsubscribe(DEFAULT_ROOM, stream);
      hub.presence.detach(DEFAULT_ROOM, id, id);
      stream.end();
      release();
    });
    hub.presence.attach(DEFAULT_ROOM, { id, member: id, name: `guest-${id.slice(0, 4)}`, transport: 'sse' });
    try {
      await hub.subscribe(DEFAULT_ROOM, stream, start);
    } catch (err) {
      ctx.logger.warn({ err }, 'lecture SSE stream could not start');
      stream.end(); // EventSource reconnects after `retry`
    }
  });

  router.open('POST', '/update', async (req, res) => {
    const body = await readJsonBody(req, config.maxMessageBytes + 1024);
    const text = (body as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || text === '') throw new SwitchboardError('TEXT_REQUIRED');
    if (utf8Length(text) > config.maxMessageBytes) throw new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${config.maxMessageBytes} bytes`);
    if (!limiters.take(req.socket.remoteAddress ?? '')) throw new SwitchboardError('RATE_LIMITED');
    await hub.room(DEFAULT_ROOM, true);
    const ack = await hub.publish({ type: 'message', room: DEFAULT_ROOM, from: { id: `http-${randomId()}`, name: 'guest', transport: 'seed' }, text });
    sendJson(res, 200, seedMessage({ type: 'message', room: DEFAULT_ROOM, seq: ack.seq, ts: ack.ts, from: { id: '', name: '' }, text }));
  });
}

/** Cookie naming a lecture polling client, so it counts in presence like any other client. */
export const GUEST_COOKIE = 'sb_guest';

/**
 * Counts a lecture polling client in presence. Its first request only gets a `sb_guest`
 * cookie: a client that keeps no cookies (curl) would otherwise join and leave at every request.
 */
function guestPresence(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, transport: 'polling' | 'long-polling'): void {
  const raw = req.headers.cookie ? parseCookie(req.headers.cookie)[GUEST_COOKIE] : undefined;
  if (raw && /^[A-Za-z0-9_-]{8,16}$/.test(raw)) {
    ctx.hub.presence.touch(DEFAULT_ROOM, { id: raw, member: raw, name: `guest-${raw.slice(0, 4)}`, transport });
    return;
  }
  res.appendHeader('set-cookie', serializeCookie(GUEST_COOKIE, randomId(), { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 30 * 24 * 3600 }));
}

function cookieCursor(req: IncomingMessage): string | undefined {
  const raw = req.headers.cookie;
  if (!raw) return undefined;
  const value = parseCookie(raw)[SEED_COOKIE];
  return value && /^[A-Za-z0-9_-]{1,32}:\d{1,15}$/.test(value) ? value : undefined;
}

async function endCursor(ctx: ServerContext): Promise<string> {
  const state = await ctx.hub.room(DEFAULT_ROOM, true);
  return `${state.epoch}:${state.lastSeq}`;
}

/**
 * Answers with the first chat message of `result` (200) and moves the cookie just past it, or
 * with `emptyStatus` and the cookie past everything read. A reset cursor starts at `end`.
 */
function answerOne(res: ServerResponse, result: PollResult | undefined, end: string, emptyStatus: number): void {
  const message = result && !result.reset ? result.entries.find((e) => e.type === 'message') : undefined;
  const next = message ? `${result!.epoch}:${message.seq}` : result && !result.reset ? result.cursor : end;
  const cursorCookie = serializeCookie(SEED_COOKIE, next, { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 7 * 24 * 3600 });
  // The cursor cookie first (clients that read one Set-Cookie take this one), then any other.
  const others = res.getHeader('set-cookie');
  res.setHeader('set-cookie', [cursorCookie, ...(Array.isArray(others) ? others : others === undefined ? [] : [String(others)])]);
  if (!message) {
    res.writeHead(emptyStatus).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${seedJson(message)}\n`);
}
