import type { ServerContext } from '../context.js';
import { nativeSse } from '../codecs.js';
import { formatCursor } from '../../protocol/cursor.js';
import { toSwitchboardError } from '../http-util.js';
import { identityFrom } from '../identity.js';
import type { Router } from '../router.js';
import { SseStream } from './sse-stream.js';
import { sseEvent } from '../sse-writer.js';

/**
 * Native SSE: `GET /api/rooms/:room/events`. Resumes from `Last-Event-ID` (header), or the
 * `lastEventId` / `after` query parameter for clients that cannot set headers. The first event
 * is `ready` (connection id, epoch, cursor, presence); entries follow as `message`, `join`,
 * `leave` events whose `id:` is their cursor; typing notices as `typing` (no id).
 */
export function registerSse(router: Router, ctx: ServerContext): void {
  const { hub } = ctx;
  router.api('GET', '/api/rooms/:room/events', async (req, res, params, url) => {
    const room = params.room!;
    const identity = identityFrom(url.searchParams);
    const state = await hub.room(room);
    const cursor = headerValue(req.headers['last-event-id']) ?? url.searchParams.get('lastEventId') ?? url.searchParams.get('after') ?? undefined;
    const start = hub.resolveStart(state, cursor || undefined);
    const stream = new SseStream(ctx, res, 'sse', nativeSse, true);
    const release = ctx.connections.admit('sse', stream);
    const ready = {
      connectionId: identity.connectionId,
      member: identity.member,
      name: identity.name,
      room,
      epoch: start.epoch,
      cursor: formatCursor(start),
      ...(start.reset ? { reset: start.reset } : {}),
      presence: await hub.presence.members(room),
    };
    stream.open(req, sseEvent({ event: 'ready', data: JSON.stringify(ready) }));
    let closed = false;
    res.on('close', () => {
      closed = true;
      hub.unsubscribe(room, stream);
      hub.presence.detach(room, identity.connectionId, identity.member);
      stream.end();
      release();
    });
    hub.presence.attach(room, { id: identity.connectionId, member: identity.member, name: identity.name, transport: 'sse' });
    try {
      await hub.subscribe(room, stream, start);
    } catch (err) {
      const e = toSwitchboardError(err);
      stream.event('error', { code: e.code, message: e.message });
      stream.end();
    }
    if (closed) hub.unsubscribe(room, stream);
  });
}

export function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
