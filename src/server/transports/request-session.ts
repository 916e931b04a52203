import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';
import { claimsOf, handshake } from '../session/handshake.js';
import { Session, type SessionTransport } from '../session/session.js';

/** Identity claims: from the query string, or given (a REST body). */
type Claims = Parameters<typeof handshake>[3];

/** A session for one HTTP request: authenticated from it, done when the answer is. */
export async function requestSession(ctx: ServerContext, req: IncomingMessage, url: URL, transport: SessionTransport, claimed: Claims = claimsOf(url), stableGuest = false): Promise<Session> {
  const { principal, connectionId } = await handshake(ctx, req, url, claimed, stableGuest);
  return new Session(ctx, { id: connectionId, principal, transport, presence: false });
}

/**
 * A session for a request held open (a long poll): it takes a connection slot (caps of the
 * node, the address and the member; SHUTTING_DOWN while draining) and ends when the client goes
 * away or the server shuts down (its held poll then answers).
 */
export async function heldSession(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL, transport: SessionTransport): Promise<Session> {
  const session = await requestSession(ctx, req, url, transport);
  const release = ctx.connections.admit('long-polling', session);
  const gone = (): void => {
    session.close();
    release();
  };
  res.on('close', gone);
  if (res.destroyed || req.socket.destroyed) gone();
  req.socket.setTimeout(0);
  return session;
}
