/**
 * The fewest bytes of an HMAC secret of user tokens: an HS256 key as long as its hash (RFC 7518,
 * 3.2). Every token a user holds lets them test guesses offline, so a short one is soon found,
 * and with it the right to sign any identity and any right.
 */
export const MIN_JWT_SECRET_BYTES = 32;

/** Why `secret` cannot sign user tokens (too short), or undefined when it can. */
export function weakJwtSecret(secret: string): string | undefined {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes >= MIN_JWT_SECRET_BYTES) return undefined;
  return `${bytes} bytes, expected at least ${MIN_JWT_SECRET_BYTES} (an HS256 key as long as its hash, RFC 7518; make one with: openssl rand -base64 32)`;
}
