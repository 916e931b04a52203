import type { ServerResponse } from 'node:http';
import type { PollResult, TransportName } from '../../protocol/types.js';
import type { ServerContext } from '../context.js';
import { sendJson } from '../http-util.js';
import { identityFrom } from '../identity.js';
import type { Router } from '../router.js';
import { holdRequest } from './held-request.js';
import { intParam } from './http-api.js';

/**
 * Short polling (`GET /api/rooms/:room/poll`) answers at once with what follows the cursor;
 * long polling (`GET /api/rooms/:room/longpoll`) holds the request until something does, or
 * until the timeout, then answers with no entries. Both answer a PollResult whose `cursor` is
 * the `after` of the next request, so nothing is lost between two requests.
 * A request that names a `connection` keeps its member present for a while (presence).
 */
export function registerPolling(router: Router, ctx: ServerContext): void {
  const { hub, config } = ctx;

  router.api('GET', '/api/rooms/:room/poll', async (_req, res, params, url) => {
    const room = params.room!;
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const result = await hub.poll(room, url.searchParams.get('after') ?? undefined, limit);
    touchPresence(ctx, room, url, 'polling');
    sendJson(res, 200, result);
  });

  router.api('GET', '/api/rooms/:room/longpoll', async (req, res, params, url) => {
    const room = params.room!;
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const timeout = intParam(url, 'timeout', 0, 120_000) ?? config.longPollTimeoutMs;
    await hub.room(room);
    await holdRequest(ctx, req, res, async (signal) => {
      touchPresence(ctx, room, url, 'long-polling');
      const result = await hub.longPoll(room, url.searchParams.get('after') ?? undefined, limit, timeout, signal);
      touchPresence(ctx, room, url, 'long-polling');
      sendPollJson(res, result);
    });
  });
}

const pollJson = new WeakMap<PollResult, string>();

/** Sends a PollResult; a result shared by several held polls is encoded once. */
export function sendPollJson(res: ServerResponse, result: PollResult): void {
  let json = pollJson.get(result);
  if (json === undefined) pollJson.set(result, (json = JSON.stringify(result)));
  if (res.headersSent || res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(json);
}

function touchPresence(ctx: ServerContext, room: string, url: URL, transport: TransportName): void {
  if (!url.searchParams.has('connection')) return;
  const id = identityFrom(url.searchParams);
  ctx.hub.presence.touch(room, { id: id.connectionId, member: id.member, name: id.name, transport });
}

