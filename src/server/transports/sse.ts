import { NATIVE_SSE, type Codec } from '../codecs.js';
import { noteTransport } from '../access-log.js';
import type { ServerContext } from '../context.js';
import { toSwitchboardError, type HttpRequest, type HttpResponse, type RequestUrl } from '../http-util.js';
import { presenceFrameJson } from '../presence-json.js';
import type { Router } from '../router.js';
import { claimsOf, handshake } from '../session/handshake.js';
import { Session } from '../session/session.js';
import { sseEvent } from '../sse-writer.js';
import { parseCursor } from '../../protocol/cursor.js';
import type { SseReady } from '../../protocol/types.js';
import { holdUntilGone, requestSession } from './request-session.js';
import { SSE_HEADERS, SseSink } from './sse-sink.js';

/**
 * Native SSE: `GET /api/rooms/:room/events`. Resumes from `Last-Event-ID` (header), or the
 * `lastEventId` / `after` query parameter for clients that cannot set headers. The first event
 * is `ready` (connection id, member, epoch, cursor, presence); entries follow as `message`,
 * `join`, `leave` events whose `id:` is their cursor; typing and presence notices as `typing`
 * and `presence` (no id). A refused stream is an HTTP error answer; one that fails later ends
 * with an `error` event.
 */
export function registerSse(router: Router, ctx: ServerContext): void {
  router.on('GET', '/api/rooms/:room/events', async (req, res, params, url) => {
    const [cursor, afterFrom] = resumeCursor(req, url);
    const { session, open } = await openSseSession(ctx, req, res, url, NATIVE_SSE, claimsOf(url));
    try {
      await session.subscribe(params.room!, { after: cursor || undefined, afterFrom }, (info) => {
        const ready: SseReady = { connectionId: session.id, member: session.principal.member, name: session.principal.name, ...info };
        open(sseEvent({ event: 'ready', data: presenceFrameJson(ready) }));
      });
    } catch (err) {
      // Before the stream opened: an HTTP error answer (the router's); after: an error event.
      if (!res.headersSent) {
        session.close();
        throw err;
      }
      session.close(toSwitchboardError(err));
    }
  }, { opensStream: true });

  // HEAD opens no stream: checked as the GET is (token, right, room, cursor), answered at once with the stream's head.
  router.on('HEAD', '/api/rooms/:room/events', async (req, res, params, url) => {
    const session = await requestSession(ctx, req, url, 'sse');
    await session.roomInfo(params.room!);
    parseCursor(...resumeCursor(req, url));
    res.writeHead(200, SSE_HEADERS).end();
  });
}

/**
 * An SSE session for a request: authenticated, counted against the connection caps, ended when
 * the client hangs up at any point (even while it is being subscribed). `open` writes the
 * headers, the retry hint and `first`: the caller calls it once it knows where delivery starts.
 */
export async function openSseSession(
  ctx: ServerContext,
  req: HttpRequest,
  res: HttpResponse,
  url: RequestUrl,
  codec: Codec,
  claimed: Parameters<typeof handshake>[3],
): Promise<{ session: Session; open: (first?: string) => void }> {
  const { principal, connectionId } = await handshake(ctx, req, url, claimed);
  ctx.connections.check(principal);
  const sink = new SseSink(res, codec, ctx.config.sseKeepaliveMs);
  noteTransport(req, 'sse');
  const session = new Session(ctx, { id: connectionId, principal, transport: 'sse', sink: { sink, codec, onReset: 'end' } });
  holdUntilGone(ctx, req, res, session, 'sse');
  return { session, open: (first = '') => sink.open(req, ctx.config.sseRetryMs, first) };
}

/**
 * Where a stream resumes, and the name of what said so (for INVALID_CURSOR's message): the
 * `Last-Event-ID` header, else the `lastEventId` query parameter, else `after`.
 */
function resumeCursor(req: HttpRequest, url: RequestUrl): [cursor: string | undefined, source: string] {
  const header = headerValue(req.headers['last-event-id']);
  if (header !== undefined) return [header, 'Last-Event-ID'];
  const lastEventId = url.searchParams.get('lastEventId');
  if (lastEventId !== null) return [lastEventId, 'lastEventId'];
  return [url.searchParams.get('after') ?? undefined, 'after'];
}

export function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
