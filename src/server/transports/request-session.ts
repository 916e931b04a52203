import { noteTransport } from '../access-log.js';
import { watchClose, type AnswerCloser } from '../answer-close.js';
import type { ServerContext } from '../context.js';
import { holdOpen, responseGone, type HttpRequest, type HttpResponse, type RequestUrl } from '../http-util.js';
import { claimsOf, handshake, type Handshake } from '../session/handshake.js';
import { Session, type SessionTransport } from '../session/session.js';

/** Identity claims: from the query string, or given (a REST body). */
type Claims = Parameters<typeof handshake>[3];

/**
 * A session for one HTTP request: authenticated from it, done when the answer is. Made at once
 * when the handshake needs no wait (most polls), else a promise of it; throws or rejects as the
 * handshake does.
 */
export function requestSession(ctx: ServerContext, req: HttpRequest, url: RequestUrl, transport: SessionTransport, claimed: Claims = claimsOf(url), stableGuest = false): Session | Promise<Session> {
  const shook = handshake(ctx, req, url, claimed, stableGuest);
  return shook instanceof Promise ? shook.then((h) => sessionOf(ctx, req, h, transport)) : sessionOf(ctx, req, shook, transport);
}

function sessionOf(ctx: ServerContext, req: HttpRequest, { principal, connectionId }: Handshake, transport: SessionTransport): Session {
  noteTransport(req, transport);
  return new Session(ctx, { id: connectionId, principal, transport, presence: false });
}

/**
 * A session for a request held open (a long poll): it takes a connection slot (caps of the
 * node, the address and the member; SHUTTING_DOWN while draining) and ends when the client goes
 * away or the server shuts down (its held poll then answers). At once or a promise, as requestSession.
 */
export function heldSession(ctx: ServerContext, req: HttpRequest, res: HttpResponse, url: RequestUrl, transport: SessionTransport): Session | Promise<Session> {
  const made = requestSession(ctx, req, url, transport);
  return made instanceof Promise ? made.then((session) => held(ctx, req, res, session)) : held(ctx, req, res, made);
}

function held(ctx: ServerContext, req: HttpRequest, res: HttpResponse, session: Session): Session {
  holdUntilGone(ctx, req, res, session, 'long-polling');
  holdOpen(req);
  return session;
}

/**
 * Counts `session` as an open connection (caps of the node, the address and the member) until
 * the response is gone, which closes the session too, even when the client hung up already (at
 * an await of the handshake). The slot is released only then: a shutdown waits for the answer.
 */
export function holdUntilGone(ctx: ServerContext, req: HttpRequest, res: HttpResponse, session: Session, kind: 'long-polling' | 'sse'): void {
  ctx.connections.admit(kind, session);
  const held = new HeldResponse(res, session, ctx.connections, kind);
  // A pipelined HTTP/1.1 answer has no socket of its own yet: its request's tells. HTTP/2: the stream's state.
  if (responseGone(res) || req.socket.destroyed) held.gone();
  else watchClose(held);
}

/**
 * What a held response releases when it is gone (watchClose tells it: no closure and no
 * listener of its own per response, see answer-close.ts).
 */
class HeldResponse implements AnswerCloser {
  constructor(
    readonly res: HttpResponse,
    private readonly session: Session,
    private readonly connections: ServerContext['connections'],
    private readonly kind: 'long-polling' | 'sse',
  ) {}

  gone(): void {
    this.session.close();
    this.connections.release(this.kind, this.session);
  }
}
