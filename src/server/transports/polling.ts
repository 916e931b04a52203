import type { PollResult } from '../../protocol/types.js';
import type { ServerContext } from '../context.js';
import { closeAfter, responseGone, type HttpResponse } from '../http-util.js';
import { COMMON_HEADERS, type Router } from '../router.js';
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

  router.on('GET', '/api/rooms/:room/poll', async (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const made = requestSession(ctx, req, url, 'polling');
    const session = made instanceof Promise ? await made : made;
    sendPollJson(res, await session.poll(params.room!, url.searchParams.get('after') ?? undefined, limit, url.searchParams.get('session') ?? undefined));
  }, OWN_HEADERS);

  router.on('GET', '/api/rooms/:room/longpoll', async (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const timeout = intParam(url, 'timeout', 0, 120_000) ?? config.longPollTimeoutMs;
    const made = heldSession(ctx, req, res, url, 'long-polling');
    const session = made instanceof Promise ? await made : made;
    try {
      const result = await session.longPoll(params.room!, url.searchParams.get('after') ?? undefined, limit, timeout, url.searchParams.get('session') ?? undefined);
      // Answered by a shutdown: the next poll goes elsewhere, on a connection of its own.
      if (ctx.connections.draining) closeAfter(res);
      sendPollJson(res, result);
    } finally {
      session.close();
    }
  }, OWN_HEADERS);
}

/** The poll routes answer with sendPollJson's headers, the common ones among them. */
const OWN_HEADERS = { writesCommonHeaders: true };

const pollJson = new WeakMap<PollResult, { json: string; headers: Record<string, string> }>();

/**
 * Sends a PollResult; a result shared by several polls (held at one position, or asking at one
 * position: see PollAnswers) is encoded once, with its headers. With its length: one write of
 * headers and body.
 */
export function sendPollJson(res: HttpResponse, result: PollResult): void {
  let encoded = pollJson.get(result);
  if (encoded === undefined) {
    const json = JSON.stringify(result);
    const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(json)), ...COMMON_HEADERS };
    pollJson.set(result, (encoded = { json, headers }));
  }
  if (res.headersSent || responseGone(res)) return;
  res.writeHead(200, encoded.headers);
  res.end(encoded.json);
}
