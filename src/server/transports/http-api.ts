import { ROOM_NAME_PATTERN } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import { deleteBody, editBody, publishBody, reactBody, readBody, searchQuery } from '../../protocol/schemas.js';
import type { ZodType } from 'zod';
import type { ServerContext } from '../context.js';
import { hasBody, messageBodyLimit, readJsonBody, sendJson, type HttpRequest, type RequestUrl } from '../http-util.js';
import type { Router } from '../router.js';
import { requestSession } from './request-session.js';

/**
 * The native REST routes: rooms, publish over HTTP, history, presence, typing, and what
 * administrators (the `admin` right, or the server API key) may do. Each request is a session
 * of its own (see request-session.ts). Subscribing over HTTP is in polling.ts and sse.ts.
 */
export function registerHttpApi(router: Router, ctx: ServerContext): void {
  const { config } = ctx;

  /**
   * What a client must know before it connects: whether a token is needed, what guests may do,
   * whether dev login is on, and the largest message (so that a client refuses a longer one
   * itself, before sending, as the WebSocket welcome lets the SDK do).
   */
  router.on('GET', '/api/auth', (_req, res) => {
    sendJson(res, 200, {
      auth: ctx.policy.open ? 'open' : 'token',
      guests: ctx.policy.open ? 'write' : config.guests,
      guestRooms: ctx.policy.open ? ['*'] : config.guestRooms,
      devLogin: config.devLogin,
      maxMessageBytes: config.maxMessageBytes,
    });
  });

  /** Who the server takes the caller for: `system` (the API key), `user` (a verified token) or `guest`. */
  router.on('GET', '/api/auth/me', async (req, res, _params, url) => {
    const { principal } = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, { kind: principal.kind, member: principal.member, name: principal.name });
  });

  /** A page of rooms by name: `?limit=` (default 100, at most 500) and `?after=<name>` (the `next` of the previous page). */
  router.on('GET', '/api/rooms', async (req, res, _params, url) => {
    const limit = intParam(url, 'limit', 1, 500) ?? 100;
    const after = url.searchParams.get('after') || undefined;
    if (after !== undefined && !ROOM_NAME_PATTERN.test(after)) throw new SwitchboardError('BAD_REQUEST', 'after must be a room name');
    const session = await requestSession(ctx, req, url, 'http');
    session.chargeRead(sendJson(res, 200, await session.rooms(after === undefined ? { limit } : { after, limit })));
  });

  router.on('PUT', '/api/rooms/:room', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    const { info, created } = await session.createRoom(params.room!);
    sendJson(res, created ? 201 : 200, info);
  });

  router.on('GET', '/api/rooms/:room', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, await session.roomInfo(params.room!));
  });

  router.on('DELETE', '/api/rooms/:room', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    await session.deleteRoom(params.room!);
    res.writeHead(204).end();
  });

  router.on('GET', '/api/rooms/:room/messages', async (req, res, params, url) => {
    const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
    const limit = intParam(url, 'limit', 1, 500) ?? 50;
    const session = await requestSession(ctx, req, url, 'http');
    session.chargeRead(sendJson(res, 200, await session.history(params.room!, before, limit)));
  });

  /** Resets the room's history: a new epoch, no entries (admin). */
  router.on('DELETE', '/api/rooms/:room/messages', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, await session.resetRoom(params.room!));
  });

  router.on('POST', '/api/rooms/:room/messages', async (req, res, params, url) => {
    const { text, data, event, clientId, name, member, connectionId, replyTo } = parse(publishBody, await readJsonBody(req, messageBodyLimit(config.maxMessageBytes)));
    // The body names the sender on an open server (and for the server API: on behalf of whom).
    const session = await requestSession(ctx, req, url, 'http', { name, member, connection: connectionId }, true);
    const ack = await session.publish(params.room!, { text, data, event, clientId, replyTo, onBehalfOf: { name, member } });
    sendJson(res, ack.duplicate ? 200 : 201, ack);
  }, READS_BODY);

  /** Edits a message (its author, or a room admin): 201 with the ack of the `edit` entry (200: a duplicate). */
  router.on('PATCH', '/api/rooms/:room/messages/:seq', async (req, res, params, url) => {
    const seq = seqParam(params.seq!);
    const body = parse(editBody, await readJsonBody(req, messageBodyLimit(config.maxMessageBytes)));
    const session = await requestSession(ctx, req, url, 'http', undefined, true);
    const ack = await session.edit(params.room!, seq, body.text, body.clientId);
    sendJson(res, ack.duplicate ? 200 : 201, ack);
  }, READS_BODY);

  /** Deletes a message (its author, or a room admin); the optional body `{clientId}` makes it idempotent. */
  router.on('DELETE', '/api/rooms/:room/messages/:seq', async (req, res, params, url) => {
    const seq = seqParam(params.seq!);
    const body = await optionalBody(req, deleteBody);
    const session = await requestSession(ctx, req, url, 'http', undefined, true);
    const ack = await session.deleteMessage(params.room!, seq, body.clientId);
    sendJson(res, ack.duplicate ? 200 : 201, ack);
  }, READS_BODY);

  /** Adds, takes back (`on`) or toggles (no `on`) the caller's reaction. */
  router.on('POST', '/api/rooms/:room/messages/:seq/reactions', async (req, res, params, url) => {
    const seq = seqParam(params.seq!);
    const body = parse(reactBody, await readJsonBody(req, 4096));
    const session = await requestSession(ctx, req, url, 'http', undefined, true);
    const ack = await session.react(params.room!, seq, body.emoji, body.on, body.clientId);
    sendJson(res, ack.duplicate ? 200 : 201, ack);
  }, READS_BODY);

  /** Moves the caller's read position forward: 200 {room, member, seq} (the position stored, never lower). */
  router.on('PUT', '/api/rooms/:room/read', async (req, res, params, url) => {
    const body = parse(readBody, await readJsonBody(req, 4096));
    const session = await requestSession(ctx, req, url, 'http', undefined, true);
    const seq = await session.markRead(params.room!, body.seq);
    sendJson(res, 200, { room: params.room, member: session.principal.member, seq });
  }, READS_BODY);

  /** The caller's read position and unread counts, and the room's readers (ReadState). */
  router.on('GET', '/api/rooms/:room/read', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, await session.readState(params.room!));
  });

  /** Unread counts in 1..50 rooms: `?rooms=a,b,c`. Rooms the caller may not read, or that do not exist, are left out. */
  router.on('GET', '/api/read', async (req, res, _params, url) => {
    const rooms = (url.searchParams.get('rooms') ?? '').split(',').filter((r) => r !== '');
    if (rooms.length < 1 || rooms.length > 50) throw new SwitchboardError('BAD_REQUEST', 'rooms: 1 to 50 room names, comma-separated');
    for (const r of rooms) if (!ROOM_NAME_PATTERN.test(r)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(r.slice(0, 80)));
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, { rooms: await session.unread([...new Set(rooms)]) });
  });

  /** Search: `?q=` (1-200 characters), `?limit=` (1-50, default 20), `?before=<seq>`. */
  router.on('GET', '/api/rooms/:room/search', async (req, res, params, url) => {
    const q = parse(searchQuery, url.searchParams.get('q') ?? '', 'q');
    const limit = intParam(url, 'limit', 1, 50) ?? 20;
    const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 200, await session.search(params.room!, q, { before, limit }));
  });

  /** PresencePage: `?limit=` (1-1000, default 100) members; a room of more says `truncated` and its `count`. */
  router.on('GET', '/api/rooms/:room/presence', async (req, res, params, url) => {
    const limit = intParam(url, 'limit', 1, 1000) ?? 100;
    const session = await requestSession(ctx, req, url, 'http');
    session.chargeRead(sendJson(res, 200, { room: params.room, ...(await session.presence(params.room!, limit)) }));
  });

  /**
   * A polling client joins the room's presence: the answer's `session` ticket, sent as
   * `?session=` with each poll, keeps it present. GET requests never make anyone present.
   */
  router.on('POST', '/api/rooms/:room/presence', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    sendJson(res, 201, { room: params.room, ...(await session.joinPresence(params.room!)) });
  });

  router.on('DELETE', '/api/rooms/:room/presence', async (req, res, params, url) => {
    const ticket = url.searchParams.get('session');
    if (!ticket) throw new SwitchboardError('BAD_REQUEST', 'session is required');
    const session = await requestSession(ctx, req, url, 'http');
    await session.leavePresence(params.room!, ticket);
    res.writeHead(204).end();
  });

  /** Ends a member's connections to this room on every node (admin). */
  router.on('DELETE', '/api/rooms/:room/members/:member', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    await session.disconnectMember(params.member!, params.room!);
    res.writeHead(204).end();
  });

  /** Ends a member's connections to every room on every node (server API key only). */
  router.on('DELETE', '/api/members/:member', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'http');
    await session.disconnectMember(params.member!);
    res.writeHead(204).end();
  });

  router.on('POST', '/api/rooms/:room/typing', async (req, res, params, url) => {
    const body = await readJsonBody(req, 4096).catch((err: unknown) => {
      // An empty body is fine: who types is the session's principal.
      if (!hasBody(req)) return {};
      throw err;
    });
    const claims = (body ?? {}) as { name?: unknown; member?: unknown };
    const session = await requestSession(ctx, req, url, 'http', {
      name: typeof claims.name === 'string' ? claims.name : undefined,
      member: typeof claims.member === 'string' ? claims.member : undefined,
    });
    await session.typing(params.room!);
    res.writeHead(204).end();
  }, READS_BODY);
}

/** The routes that read a request body (the others refuse one past a few bytes: router.ts, IGNORED_BODY_BYTES). */
const READS_BODY = { readsBody: true };

/**
 * A value checked by a schema; BAD_REQUEST naming what is wrong: the field of a body
 * (`text: ...`), or `what` for the value itself (`body`, or a query parameter's name: `q: ...`).
 */
function parse<T>(schema: ZodType<T>, value: unknown, what = 'body'): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new SwitchboardError('BAD_REQUEST', r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : what}: ${i.message}`).join('; ').slice(0, 300));
  return r.data;
}

/** The `:seq` of a message route: a positive integer, else BAD_REQUEST. */
function seqParam(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]{1,16}$/.test(raw) || !Number.isSafeInteger(n) || n < 1) throw new SwitchboardError('BAD_REQUEST', 'seq must be a positive integer');
  return n;
}

/** A body that may be absent (no content): `{}` then; otherwise JSON checked by `schema`. */
async function optionalBody<T>(req: HttpRequest, schema: ZodType<T>): Promise<T> {
  if (!hasBody(req)) return parse(schema, {});
  return parse(schema, await readJsonBody(req, 4096));
}


/** An integer query parameter as written: decimal digits, no sign (at most 16: any safe integer). */
const DECIMAL = /^[0-9]{1,16}$/;

/** An integer query parameter within bounds, in plain decimal digits; undefined when absent; BAD_REQUEST otherwise. */
export function intParam(url: RequestUrl, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  // Plain decimal digits only: Number() would also take `0x10`, `1e5`, `+5`, `0b11` and spaces.
  const n = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new SwitchboardError('BAD_REQUEST', `${name} must be an integer from ${min} to ${max}`);
  return n;
}
