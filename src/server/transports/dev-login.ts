import { serialize as serializeCookie } from 'cookie';
import { z } from 'zod';
import { SwitchboardError } from '../../protocol/errors.js';
import { displayName } from '../../protocol/schemas.js';
import { mintToken } from '../auth/mint-token.js';
import type { RoomGrants } from '../auth/principal.js';
import { TOKEN_COOKIE } from '../auth/token-source.js';
import type { ServerContext } from '../context.js';
import { readJsonBody, sendJson } from '../http-util.js';
import type { Router } from '../router.js';
import { clientAddress } from '../session/handshake.js';

const loginBody = z.object({ name: displayName });

/** What a development login may do: everything but administer. */
const DEV_GRANTS: RoomGrants = { '*': ['read', 'write', 'create'] };

/** Lifetime of a development token. */
const DEV_TTL_SEC = 12 * 3600;

/**
 * `POST /api/dev/login {"name":"Ann"}` (only with `--dev-login`, and a `--jwt-secret` to sign
 * with): a token for anyone who asks, so the demo runs with authentication on. The answer
 * carries the token and sets it as the HttpOnly `sb_token` cookie too (for the lecture's pages).
 * Never turn it on where strangers can reach it: it is a door, not a lock.
 */
export function registerDevLogin(router: Router, ctx: ServerContext): void {
  const secret = ctx.config.jwtSecret;
  if (!secret) throw new Error('--dev-login needs --jwt-secret (the tokens it issues are signed with it)');
  router.on('POST', '/api/dev/login', async (req, res) => {
    ctx.limits.take('connect', `ip:${clientAddress(req, ctx.config.trustProxy)}`);
    const body = loginBody.safeParse(await readJsonBody(req, 4096));
    if (!body.success) throw new SwitchboardError('BAD_REQUEST', 'name: 1-64 characters, no control characters');
    const { name } = body.data;
    const member = `dev-${name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'user'}`;
    const token = await mintToken(secret, { sub: member, name, rooms: DEV_GRANTS, ttlSec: DEV_TTL_SEC, issuer: ctx.config.jwtIssuer, audience: ctx.config.jwtAudience });
    // HTTPS here, or (behind a proxy you trust) HTTPS at the proxy: the cookie is then Secure.
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true || (ctx.config.trustProxy && req.headers['x-forwarded-proto'] === 'https');
    res.setHeader('set-cookie', serializeCookie(TOKEN_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: DEV_TTL_SEC }));
    sendJson(res, 200, { token, member, name, rooms: DEV_GRANTS, expiresAt: Date.now() + DEV_TTL_SEC * 1000 });
  }, { readsBody: true });
}
