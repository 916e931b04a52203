import { SwitchboardError } from '../../protocol/errors.js';
import { publishBody, typingBody } from '../../protocol/schemas.js';
import type { ServerContext } from '../context.js';
import { readJsonBody, sendJson, utf8Length } from '../http-util.js';
import { randomId } from '../ids.js';
import { RateLimiterMap } from '../rate-limiter-map.js';
import type { Router } from '../router.js';

/**
 * The native REST routes: rooms, publish over HTTP, history, presence, typing.
 * (Subscribing over HTTP is in short-polling.ts, long-polling.ts and sse.ts.)
 */
export function registerHttpApi(router: Router, ctx: ServerContext): void {
  const { hub, config } = ctx;
  const limiters = new RateLimiterMap(config.rateLimitPerSecond, config.rateLimitBurst);

  router.api('GET', '/api/rooms', async (_req, res) => {
    sendJson(res, 200, { rooms: await hub.listRooms() });
  });

  router.api('PUT', '/api/rooms/:room', async (_req, res, params) => {
    const { created } = await hub.createRoom(params.room!);
    sendJson(res, created ? 201 : 200, await hub.roomInfo(params.room!));
  });

  router.api('GET', '/api/rooms/:room', async (_req, res, params) => {
    sendJson(res, 200, await hub.roomInfo(params.room!));
  });

  router.api('GET', '/api/rooms/:room/messages', async (_req, res, params, url) => {
    const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
    const limit = intParam(url, 'limit', 1, 500) ?? 50;
    sendJson(res, 200, await hub.history(params.room!, before, limit));
  });

  router.api('POST', '/api/rooms/:room/messages', async (req, res, params) => {
    const body = publishBody.safeParse(await readJsonBody(req, config.maxMessageBytes + 4096));
    if (!body.success) throw new SwitchboardError('BAD_REQUEST', body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const { text, clientId, name, member, connectionId } = body.data;
    if (utf8Length(text) > config.maxMessageBytes) throw new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${config.maxMessageBytes} bytes`);
    const id = connectionId ?? `http-${randomId()}`;
    if (!limiters.take(member ?? `${req.socket.remoteAddress}`)) throw new SwitchboardError('RATE_LIMITED');
    const ack = await hub.publish({
      type: 'message',
      room: params.room!,
      from: { id, name: name ?? 'anonymous', ...(member ? { member } : {}), transport: 'http' },
      text,
      ...(clientId !== undefined ? { clientId } : {}),
    });
    sendJson(res, ack.duplicate ? 200 : 201, ack);
  });

  router.api('GET', '/api/rooms/:room/presence', async (_req, res, params) => {
    await hub.room(params.room!);
    sendJson(res, 200, { room: params.room, members: await hub.presence.members(params.room!) });
  });

  router.api('POST', '/api/rooms/:room/typing', async (req, res, params) => {
    const body = typingBody.safeParse(await readJsonBody(req, 4096));
    if (!body.success) throw new SwitchboardError('BAD_REQUEST');
    await hub.room(params.room!);
    const member = body.data.member ?? 'anonymous';
    if (!limiters.take(member)) throw new SwitchboardError('RATE_LIMITED');
    hub.typing(params.room!, { id: member, name: body.data.name ?? 'anonymous', member });
    res.writeHead(204).end();
  });
}

/** An integer query parameter within bounds; undefined when absent; BAD_REQUEST when malformed. */
export function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new SwitchboardError('BAD_REQUEST', `${name} must be an integer from ${min} to ${max}`);
  return n;
}
