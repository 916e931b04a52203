import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers of a webhook POST (lower case, as node:http gives them to a receiver). */
export const WEBHOOK_HEADERS = {
  event: 'x-switchboard-event',
  id: 'x-switchboard-id',
  /** Unix seconds of this attempt; it is part of what is signed. */
  timestamp: 'x-switchboard-timestamp',
  /** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
  signature: 'x-switchboard-signature',
} as const;

/**
 * The signature header of a webhook: `v1=` and the hex HMAC-SHA256, keyed by `secret`, of
 * `${timestamp}.${body}`, `timestamp` in Unix seconds and `body` the exact bytes sent.
 */
export function signWebhook(secret: string, timestamp: number, body: string | Uint8Array): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/**
 * For receivers: true when `header.signature` is the signature of `body` (the raw body, before
 * any JSON parsing) at `header.timestamp`, and that timestamp is within `toleranceSec` of `now`
 * (epoch ms) either way, which bounds replays. Never throws; compares in constant time.
 */
export function verifyWebhook(
  secret: string,
  header: { signature: string; timestamp: string },
  body: string | Uint8Array,
  toleranceSec = 300,
  now = Date.now(),
): boolean {
  if (!/^\d{1,15}$/.test(header.timestamp)) return false;
  const timestamp = Number(header.timestamp);
  if (Math.abs(now / 1000 - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(String(header.signature));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
