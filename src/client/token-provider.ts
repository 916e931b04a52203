/** A token, or a function the client calls for one (again before it expires, and on every reconnect). */
export type TokenOption = string | (() => string | Promise<string>);

/** Refresh this long before a token's `exp` (or a tenth of its lifetime when that is shorter). */
const REFRESH_AHEAD_MS = 30_000;

/**
 * The `exp` of a JWT in ms, read without checking the signature (the server checks it; the
 * client only needs to know when to ask for a new one). Undefined when there is none.
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown; iat?: unknown };
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** When to ask for the next token: ahead of its expiry, never in the past. Undefined: no expiry known. */
export function refreshDelay(token: string, now = Date.now()): number | undefined {
  const exp = tokenExpiry(token);
  if (exp === undefined) return undefined;
  const left = exp - now;
  return Math.max(0, left - Math.min(REFRESH_AHEAD_MS, left / 10));
}
