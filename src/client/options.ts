import { CLIENT_ID_PATTERN, MAX_NAME_LENGTH, ROOM_NAME_PATTERN } from '../protocol/constants.js';
import { SwitchboardError } from '../protocol/errors.js';
import { TRANSPORTS, type TransportName } from '../protocol/types.js';
import type { BackoffOptions } from './backoff.js';
import { randomId } from './ids.js';
import type { TransportSettings } from './transports/transport.js';
import type { ConnectOptions } from './types.js';
import { parseBaseUrl } from './urls.js';

/** Defaults of every optional ConnectOptions field (docs/client.md lists them). */
export const CLIENT_DEFAULTS = {
  transport: 'auto',
  pollIntervalMs: 2000,
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  silenceTimeoutMs: 50_000,
  upgradeRetryMs: 60_000,
  openTimeoutMs: 5000,
  publishTimeoutMs: 10_000,
} as const;

/** ConnectOptions checked, with defaults applied. */
export interface ResolvedOptions {
  settings: TransportSettings;
  transport: TransportName | 'auto';
  after: string | undefined;
  backoff: BackoffOptions;
  upgradeRetryMs: number;
  /** A function giving tokens, when the token option is one. */
  tokenProvider: (() => string | Promise<string>) | undefined;
}

/**
 * Checks the options the way the server would, so a bad one fails at once with the code the
 * server would give: INVALID_ROOM_NAME, BAD_REQUEST (name, member, transport, a number), and
 * ConnectionError INVALID_URL for the URL.
 */
export function resolveOptions(o: ConnectOptions): ResolvedOptions {
  const base = parseBaseUrl(o.url);
  if (typeof o.room !== 'string' || !ROOM_NAME_PATTERN.test(o.room)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(String(o.room).slice(0, 80)));
  // As the server's displayName: no control characters (C0 or C1), no lone surrogates.
  if (typeof o.name !== 'string' || o.name.length < 1 || o.name.length > MAX_NAME_LENGTH || /\p{Cc}/u.test(o.name) || !o.name.isWellFormed()) {
    throw new SwitchboardError('BAD_REQUEST', `name: 1-${MAX_NAME_LENGTH} characters, no control characters or lone surrogates`);
  }
  if (o.member !== undefined && !CLIENT_ID_PATTERN.test(o.member)) throw new SwitchboardError('BAD_REQUEST', 'member: 1-64 of A-Z a-z 0-9 _ - : .');
  if (o.token !== undefined && typeof o.token !== 'string' && typeof o.token !== 'function') throw new SwitchboardError('BAD_REQUEST', 'token: a string or a function returning one');
  const transport = o.transport ?? CLIENT_DEFAULTS.transport;
  if (transport !== 'auto' && !TRANSPORTS.includes(transport)) throw new SwitchboardError('BAD_REQUEST', `transport: one of auto, ${TRANSPORTS.join(', ')}`);
  const ms = (value: number | undefined, fallback: number, what: string, min = 0): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new SwitchboardError('BAD_REQUEST', `${what}: a number of ms >= ${min}`);
    return value;
  };
  const silenceTimeoutMs = ms(o.silenceTimeoutMs, CLIENT_DEFAULTS.silenceTimeoutMs, 'silenceTimeoutMs', 1000);
  const initialDelayMs = ms(o.reconnect?.initialDelayMs, CLIENT_DEFAULTS.initialDelayMs, 'reconnect.initialDelayMs');
  return {
    settings: {
      base,
      room: o.room,
      name: o.name,
      member: o.member ?? randomId(12),
      connectionId: randomId(16),
      token: typeof o.token === 'string' ? o.token : undefined,
      create: o.create === true,
      openTimeoutMs: ms(o.openTimeoutMs, CLIENT_DEFAULTS.openTimeoutMs, 'openTimeoutMs', 100),
      pollIntervalMs: ms(o.pollIntervalMs, CLIENT_DEFAULTS.pollIntervalMs, 'pollIntervalMs', 10),
      silenceTimeoutMs,
      publishTimeoutMs: ms(o.publishTimeoutMs, CLIENT_DEFAULTS.publishTimeoutMs, 'publishTimeoutMs', 100),
    },
    transport,
    after: o.after,
    backoff: { initialDelayMs, maxDelayMs: Math.max(initialDelayMs, ms(o.reconnect?.maxDelayMs, CLIENT_DEFAULTS.maxDelayMs, 'reconnect.maxDelayMs')) },
    upgradeRetryMs: ms(o.upgradeRetryMs, CLIENT_DEFAULTS.upgradeRetryMs, 'upgradeRetryMs', 10),
    tokenProvider: typeof o.token === 'function' ? o.token : undefined,
  };
}
