import { SignJWT } from 'jose';
import type { RoomGrants } from './principal.js';

/** What a minted token says. */
export interface TokenClaims {
  sub: string;
  name?: string | undefined;
  rooms?: RoomGrants | undefined;
  /** Lifetime in seconds. */
  ttlSec: number;
  issuer?: string | undefined;
  audience?: string | undefined;
}

/** An HS256 token signed with `secret`: for development (`switchboard token`, `--dev-login`) and tests. */
export function mintToken(secret: string, claims: TokenClaims, nowMs = Date.now()): Promise<string> {
  // One reading of the clock for both: `exp - iat` is the lifetime asked, even across a second's turn.
  const now = Math.floor(nowMs / 1000);
  let jwt = new SignJWT({ ...(claims.name !== undefined ? { name: claims.name } : {}), ...(claims.rooms ? { rooms: claims.rooms } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + claims.ttlSec);
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
