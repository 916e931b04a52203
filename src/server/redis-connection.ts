import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions, SentinelAddress, SentinelConnectionOptions, SentinelConnector } from 'ioredis';
import { SwitchboardError } from '../protocol/errors.js';
import type { Logger } from './logger.js';
import { parseClusterUrl, parseSentinelUrl } from './redis-url.js';
import { LogLimiter } from './session/log-limiter.js';

/**
 * ioredis, loaded on the first Redis client: a server without Redis (the default) does not pay
 * for it (about 10 MB of RSS per process, which counts with one process per worker). It is a
 * CommonJS package, so `require` loads it synchronously.
 */
let ioredis: typeof import('ioredis') | undefined;
function loadIoredis(): typeof import('ioredis') {
  return (ioredis ??= createRequire(import.meta.url)('ioredis') as typeof import('ioredis'));
}

/** Whether `client` talks to a Redis Cluster. */
export function isCluster(client: RedisClient): client is Cluster {
  return ioredis !== undefined && client instanceof ioredis.Cluster;
}

/** A client of one Redis server, or of a Redis Cluster: the commands the store, broker and presence use are the same. */
export type RedisClient = Redis | Cluster;

/** Connection policy shared by the Redis store, broker and presence. */
export interface RedisConnectionOptions {
  /** How long `waitUntilReady` waits, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** A command with no reply after this many ms fails. Default 2000. */
  commandTimeoutMs?: number;
  /** Name shown by Redis `CLIENT LIST` (which connection is which when diagnosing). */
  connectionName?: string;
  /**
   * Cluster only: sharded pub/sub (`SSUBSCRIBE`) through one subscriber connection per master,
   * each listening to the channels of its slots. The broker's subscriber sets it.
   */
  shardedSubscribers?: boolean;
  /**
   * Where the client's connection is told of: a warning when the connection it had goes (with
   * the last error), an `info` line when it is back (with how long it was gone), and, through
   * Sentinel, a sentinel that does not answer (a warning, at most one a minute per sentinel and
   * reason, whatever the number of clients). None: not told (commands fail all the same).
   */
  logger?: Logger;
}

/**
 * A client that fails fast while Redis is down instead of queueing: no offline queue, no retry
 * of a command on a new connection, and a per-command timeout for a server that stopped
 * answering without closing the socket. It reconnects in the background (every ≤ 1 s) forever,
 * until `disconnect()`. It does not connect before its first command or `connect()`.
 *
 * `url` is `redis://`/`rediss://` (one server), `redis-cluster://host:port,...` (an ioredis
 * `Cluster`, which routes each command to the master of its key's slot: callers keep every key
 * of one command or script in one slot with hash tags) or `redis-sentinel://host:port,.../master`
 * (one server found through Redis Sentinel: the master of that name, wherever a failover put it).
 *
 * With Sentinel, a connection learns of a failover from the sentinels (ioredis' failover
 * detector) or from the old master's first `READONLY` refusal (it was made a replica): either
 * way it reconnects to the new master. The command refused is failed, not re-sent, as any
 * command of a dropped connection.
 *
 * Commands in flight when the connection drops are rejected, never re-sent: whether Redis ran
 * them is unknown, and re-sending a non-idempotent one (an append without clientId) could
 * apply it twice.
 */
export function createRedisClient(url: string, options: RedisConnectionOptions = {}): RedisClient {
  const perNode = {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  };
  const cluster = parseClusterUrl(url);
  const sentinel = cluster ? undefined : parseSentinelUrl(url);
  const { Cluster, Redis } = loadIoredis();
  const retryStrategy = (attempt: number): number => Math.min(attempt * 100, 1000);
  const sentinels = sentinel ? sentinelConnector(options.logger) : undefined;
  const redis: RedisClient = sentinel
    ? new Redis({
        Connector: sentinels!.Connector,
        sentinels: sentinel.sentinels,
        name: sentinel.name,
        ...(sentinel.username ? { username: sentinel.username } : {}),
        ...(sentinel.password ? { password: sentinel.password } : {}),
        ...(sentinel.sentinelUsername ? { sentinelUsername: sentinel.sentinelUsername } : {}),
        ...(sentinel.sentinelPassword ? { sentinelPassword: sentinel.sentinelPassword } : {}),
        ...(sentinel.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
        lazyConnect: true,
        enableOfflineQueue: false,
        retryStrategy,
        // Past the last sentinel of the list, start over (ioredis' default gives up after a while: null would end the client).
        sentinelRetryStrategy: retryStrategy,
        sentinelCommandTimeout: options.commandTimeoutMs ?? 2000,
        failoverDetector: true,
        // The old master, now a replica, refuses writes: find the new one (1: reconnect, re-send nothing).
        reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
        ...perNode,
      })
    : cluster
    ? new Cluster(cluster.nodes, {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
        // Several commands of one event-loop turn (a room list's reads) go as one pipeline per master.
        enableAutoPipelining: true,
        shardedSubscribers: options.shardedSubscribers ?? false,
        redisOptions: {
          ...perNode,
          ...(cluster.username ? { username: cluster.username } : {}),
          ...(cluster.password ? { password: cluster.password } : {}),
          ...(cluster.tls ? { tls: {} } : {}),
        },
      })
    : new Redis(url, { lazyConnect: true, enableOfflineQueue: false, retryStrategy, ...perNode });
  sentinels?.attach(redis as Redis);
  // Connection errors surface as rejected commands (STORE_UNAVAILABLE); without a listener
  // ioredis would print every failed reconnection attempt.
  if (options.logger) tellConnection(redis, options.logger, options.connectionName ?? 'redis');
  else redis.on('error', () => {});
  return redis;
}

/**
 * Tells `logger` when the connection of a client that was ready goes (one warning, with the last
 * error, however many reconnection attempts fail) and when it is back (one `info` line with how
 * long it was gone): otherwise an outage showed only as refused requests and `/readyz`, and its
 * end not at all. The connection attempts before the first `ready` are the start-up's to report.
 */
function tellConnection(redis: RedisClient, logger: Logger, name: string): void {
  let lastError: Error | undefined;
  let lostAt: number | undefined;
  let warning: NodeJS.Timeout | undefined;
  let ready = false;
  const warn = (): void => {
    clearTimeout(warning);
    warning = undefined;
    logger.warn({ redis: name, err: lastError?.message ?? 'connection closed' }, 'lost the connection to Redis: reconnecting; meanwhile what needs it is refused (STORE_UNAVAILABLE)');
  };
  redis.on('error', (err: Error) => {
    lastError = err;
    // The first failed attempt to reconnect says why (a server that went away closes cleanly).
    if (warning !== undefined) warn();
  });
  redis.on('ready', () => {
    if (warning !== undefined) warn();
    if (lostAt !== undefined) logger.info({ redis: name, downMs: Date.now() - lostAt }, 'the connection to Redis is back');
    ready = true;
    lostAt = undefined;
  });
  // 'reconnecting', not 'close': a client closed on purpose (quit, disconnect) closes too, and does not reconnect.
  redis.on('reconnecting', () => {
    if (!ready) return;
    ready = false;
    lostAt = Date.now();
    lastError = undefined;
    warning = setTimeout(warn, 1000);
    warning.unref();
  });
}

/** One warning per sentinel, reason and minute for all the clients of a logger. */
const sentinelWarnings = new WeakMap<Logger, LogLimiter>();

/**
 * ioredis' SentinelConnector, for one client, with an 'error' listener on every connection it
 * makes to a sentinel. ioredis gives the failover detector's connections (one per sentinel,
 * kept open to hear `+switch-master`) none, up to 6.0 at least (its issue #1600), and no
 * listener on the client reaches them: a sentinel that is down made ioredis print
 * "[ioredis] Unhandled error event" on stderr at each attempt, on every connection to the
 * master and then every minute. `Connector` is ioredis' option for a connector of one's own;
 * `connectToSentinel` is private in its types, hence the casts. `attach` gives the connector
 * its client, as ioredis does for its own (it tells the client `failoverSubscribed`).
 */
function sentinelConnector(logger: Logger | undefined): { Connector: NonNullable<RedisOptions['Connector']>; attach: (redis: Redis) => void } {
  const Base = loadIoredis().SentinelConnector;
  let limiter = logger && sentinelWarnings.get(logger);
  if (logger && !limiter) sentinelWarnings.set(logger, (limiter = new LogLimiter(logger, 1, 60_000)));
  let made: SentinelConnector | undefined;
  class ListenedSentinelConnector extends Base {
    constructor(connectorOptions: unknown) {
      super(connectorOptions as SentinelConnectionOptions);
      made = this;
      const self = this as unknown as { connectToSentinel: (endpoint: Partial<SentinelAddress>, options?: Partial<RedisOptions>) => Redis };
      const connect = self.connectToSentinel.bind(this);
      self.connectToSentinel = (endpoint, options) => {
        const client = connect(endpoint, options);
        const address = `${endpoint.host ?? 'localhost'}:${endpoint.port ?? 26379}`;
        client.on('error', (err: NodeJS.ErrnoException) => {
          limiter?.warn(`${address} ${err.code ?? err.message}`, { sentinel: address, err }, 'a Redis Sentinel does not answer: the others are asked meanwhile');
        });
        return client;
      };
    }
  }
  return {
    Connector: ListenedSentinelConnector,
    attach: (redis) => {
      if (made) made.emitter = redis;
    },
  };
}

/**
 * Starts connecting when needed and resolves once the client is ready. Rejects with
 * STORE_UNAVAILABLE after `timeoutMs`, and then stops the client's reconnection attempts (so a
 * failed start leaves nothing running); calling it again starts over.
 */
export async function waitUntilReady(redis: RedisClient, timeoutMs: number): Promise<void> {
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
export async function closeRedisClient(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
    } catch {
      // The connection went away during QUIT: disconnect below makes sure it stays closed.
    }
  }
  // Also after QUIT: a Sentinel client's connector keeps connections to the sentinels (its
  // failover detector) that only `disconnect` ends.
  redis.disconnect();
}
