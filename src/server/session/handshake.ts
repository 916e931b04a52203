import { SwitchboardError } from '../../protocol/errors.js';
import { clientMessageId, displayName } from '../../protocol/schemas.js';
import type { Principal } from '../auth/principal.js';
import type { Credentials } from './policy.js';
import { requestToken } from '../auth/token-source.js';
import { noteWho } from '../access-log.js';
import type { ServerContext } from '../context.js';
import type { HttpRequest, RequestUrl } from '../http-util.js';
import { randomId } from '../ids.js';
import { clientOf } from '../client-of.js';

/** What a transport learns from a request before it has a session. */
export interface Handshake {
  principal: Principal;
  /** This connection's id: the client's `connection` parameter on an open server, else made here. */
  connectionId: string;
}

/**
 * The client's address: the socket's, or with `trustProxy` the last X-Forwarded-For hop (the one
 * the proxy you run added; earlier hops are the client's word); an IPv6 one as its /64 (clientOf).
 */
export function clientAddress(req: HttpRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const last = (Array.isArray(xff) ? xff.join(',') : xff)?.split(',').pop()?.trim();
    if (last) return clientOf(last);
  }
  return clientOf(req.socket.remoteAddress ?? 'unknown');
}

/**
 * Origin policy. `*` allows any Origin (and CORS then never allows credentials); a list allows
 * exactly its origins, compared as serialized by browsers (scheme, host, port): the Host header
 * is never consulted, so DNS rebinding gains nothing. A request without Origin (curl, servers)
 * is not a browser's cross-site request and passes.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes('*')) return true;
  return allowed.includes(origin);
}

/** Turns the `origins` option into browser-serialized origins (`https://a.example:8443`); throws on a bad one. */
export function normalizeOrigins(list: readonly string[]): string[] {
  return list.map((o) => {
    if (o === '*') return o;
    const url = new URL(o);
    if (url.origin === 'null') throw new Error(`not an origin: ${o}`);
    return url.origin;
  });
}

/**
 * May a cookie carry the token of this request? Only when no other site can have made it: no
 * Origin (not a browser's cross-site request), an Origin of the explicit list, or the browser's
 * own word `Sec-Fetch-Site: same-origin` (a header pages cannot set). Otherwise a cross-site form
 * or WebSocket could act with the victim's cookie (CSRF).
 */
export function cookieTrusted(req: HttpRequest, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return req.headers['sec-fetch-site'] === undefined || req.headers['sec-fetch-site'] === 'same-origin' || req.headers['sec-fetch-site'] === 'none';
  if (req.headers['sec-fetch-site'] === 'same-origin') return true;
  return !allowed.includes('*') && allowed.includes(origin);
}

/**
 * Authenticates a request (HTTP or WebSocket upgrade) into a principal. `claimed` name and member
 * come from the query (WebSocket, SSE, polling) or the body (REST publish) and are believed only
 * on an open server. Throws BAD_REQUEST for a malformed claim, UNAUTHORIZED, TOKEN_EXPIRED (or
 * rejects with them). Answers at once, without a promise, when there is nothing to wait for (no
 * token to verify, no onConnect hook): most polls.
 */
export function handshake(
  ctx: ServerContext,
  req: HttpRequest,
  url: RequestUrl,
  claimed: { name?: string | null | undefined; member?: string | null | undefined; connection?: string | null | undefined } = {},
  stableGuest = false,
): Handshake | Promise<Handshake> {
  const { config, policy } = ctx;
  const open = policy.open;
  const address = clientAddress(req, config.trustProxy);
  // An open server believes it; a keyed server derives the connection id of a token's user from
  // it (userConnection), and draws one for anyone else (a guest's member is named after it).
  const claimedConnection = checked(claimed.connection, clientMessageId, 'connection');
  // A one-request client that names nobody (curl) is one sender per address, so its retries
  // (same clientId) are recognised: clientIds are scoped to their sender.
  const connectionId = open ? (claimedConnection ?? (stableGuest && !claimed.member ? ctx.ids.anonymous(address) : randomId())) : randomId();
  const token = requestToken(req, url);
  // One shape, no spread: every request makes one.
  const credentials: Credentials = {
    token,
    cookieTrusted: cookieTrusted(req, config.origins),
    address,
    connectionId,
    claimed: open ? { name: checked(claimed.name, displayName, 'name'), member: checked(claimed.member, clientMessageId, 'member') } : NO_CLAIMS,
  };
  const principal = ctx.hooks.onConnect ? undefined : policy.authenticateNow(credentials);
  const keyedClaim = open ? undefined : claimedConnection;
  if (principal === undefined) return verifiedHandshake(ctx, req, credentials, keyedClaim);
  noteWho(req, principal.member);
  return { principal, connectionId: userConnection(ctx, principal, keyedClaim) ?? connectionId };
}

/** The handshake of a request whose token needs verifying, or that the application's onConnect hook sees. */
async function verifiedHandshake(ctx: ServerContext, req: HttpRequest, credentials: Credentials, keyedClaim: string | undefined): Promise<Handshake> {
  const principal = await ctx.policy.authenticate(credentials);
  noteWho(req, principal.member);
  const hook = ctx.hooks.onConnect;
  if (hook && (await hook({ principal, request: req })) === false) throw new SwitchboardError('FORBIDDEN', 'refused by the application');
  return { principal, connectionId: userConnection(ctx, principal, keyedClaim) ?? credentials.connectionId };
}

/**
 * On a keyed server, the connection id of a token's user who claims one (`connection=`): derived
 * from its member and the claim (DerivedIds.connection), so a client that says the same one on
 * every transport and reconnection (the SDK does) is one connection, and no one else can take it.
 * Undefined for anyone else: a guest (its member is named after a connection id the server
 * draws), the API key, or no claim.
 */
function userConnection(ctx: ServerContext, principal: Principal, claim: string | undefined): string | undefined {
  return claim !== undefined && principal.kind === 'user' ? ctx.ids.connection(principal.member, claim) : undefined;
}

/** What a keyed server believes of a request's claims: nothing. */
const NO_CLAIMS: Credentials['claimed'] = Object.freeze({});

/** The name, member and connection a request claims in its query string. */
export function claimsOf(url: RequestUrl): { name: string | null; member: string | null; connection: string | null } {
  return { name: url.searchParams.get('name'), member: url.searchParams.get('member'), connection: url.searchParams.get('connection') };
}

function checked(value: string | null | undefined, schema: { safeParse(v: unknown): { success: boolean } }, what: string): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (!schema.safeParse(value).success) throw new SwitchboardError('BAD_REQUEST', `invalid ${what}`);
  return value;
}
