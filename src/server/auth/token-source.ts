/**
 * Where a request carries its token. Browsers cannot set headers on an EventSource or a WebSocket,
 * so the query string and a cookie are accepted too.
 */
import type { HttpRequest, RequestUrl } from '../http-util.js';
import { parse } from 'cookie';

/** The cookie a web page may put the token in. */
export const TOKEN_COOKIE = 'sb_token';

export type TokenVia = 'header' | 'query' | 'cookie';

/** Made once (a regular expression literal is a new object each time it is evaluated): every request is looked at. */
const BEARER = /^Bearer +(\S+) *$/i;

/**
 * The request's token and where it came from, looking in order at `Authorization: Bearer <t>`,
 * the `token` query parameter and the `sb_token` cookie; the first non-empty one wins. Undefined
 * when there is none. Never throws; the token is not checked here (see token-verifier.ts).
 */
export function requestToken(req: HttpRequest, url: RequestUrl): { token: string; via: TokenVia } | undefined {
  // The scheme is case-insensitive (RFC 9110 §11.1); another scheme (Basic) is not ours to read.
  const authorization = req.headers.authorization;
  const bearer = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (bearer) return { token: bearer, via: 'header' };
  const query = url.searchParams.get('token');
  if (query) return { token: query, via: 'query' };
  const header = req.headers.cookie;
  // Parsed only when the cookie may be there: a lecture poller's cookies are not a token.
  if (header?.includes(TOKEN_COOKIE)) {
    const cookie = parse(header)[TOKEN_COOKIE];
    if (cookie) return { token: cookie, via: 'cookie' };
  }
  return undefined;
}
