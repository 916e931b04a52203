import { Redis } from 'ioredis';
import { SwitchboardError } from '../protocol/errors.js';

/** Connection policy shared by the Redis store and the Redis broker. */
export interface RedisConnectionOptions {
  /** How long `waitUntilReady` waits, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** A command with no reply after this many ms fails. Default 2000. */
  commandTimeoutMs?: number;
  /** Name shown by Redis `CLIENT LIST` (which connection is which when diagnosing). */
  connectionName?: string;
}

/**
 * A client that fails fast while Redis is down instead of queueing: no offline queue, no retry
 * of a command on a new connection, and a per-command timeout for a server that stopped
 * answering without closing the socket. It reconnects in the background (every ≤ 1 s) forever,
 * until `disconnect()`. It does not connect before its first command or `connect()`.
 *
 * Commands in flight when the connection drops are rejected, never re-sent: whether Redis ran
 * them is unknown, and re-sending a non-idempotent one (an append without clientId) could
 * apply it twice.
 */
export function createRedisClient(url: string, options: RedisConnectionOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  });
  // Connection errors surface as rejected commands (STORE_UNAVAILABLE); without a listener
  // ioredis would print every failed reconnection attempt.
  redis.on('error', () => {});
  return redis;
}

/**
 * Starts connecting when needed and resolves once the client is ready. Rejects with
 * STORE_UNAVAILABLE after `timeoutMs`, and then stops the client's reconnection attempts (so a
 * failed start leaves nothing running); calling it again starts over.
 */
export async function waitUntilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait' || redis.status === 'end') redis.connect().catch(() => {});
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      redis.disconnect();
      reject(new SwitchboardError('STORE_UNAVAILABLE', `Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}

/** Closes politely when connected, and stops any reconnection either way. Never throws. */
export async function closeRedisClient(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // The connection went away during QUIT: fall through and make sure it stays closed.
    }
  }
  redis.disconnect();
}
