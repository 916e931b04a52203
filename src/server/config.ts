import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every server option, with its default. The CLI (`switchboard serve --help`) and the environment set them. */
export interface ServerConfig {
  /** TCP port. Env PORT. Default 3000 (the lecture's). */
  port: number;
  /** Interface to bind. Env HOST. Default '::' (every interface, IPv4 too). */
  host: string;
  /** 'memory' | 'sqlite' | 'redis'. Default 'sqlite' ('redis' when a Redis URL is given). Env STORE. */
  store: 'memory' | 'sqlite' | 'redis';
  /** Where SQLite keeps its file. Env DATA_DIR. Default ./data */
  dataDir: string;
  /** Redis URL: switches store and broker to Redis. Env REDIS_URL. */
  redisUrl: string | undefined;
  /** Prefix of every Redis key. Env REDIS_PREFIX. Default 'sb:'. */
  redisPrefix: string;
  /** Largest message (UTF-8 bytes of the text, or of a frame / body). Default 64 KiB. */
  maxMessageBytes: number;
  /** Retention: entries kept per room. Default 10000. */
  retentionCount: number;
  /** Retention: entries older than this are removed (ms). Default 7 days. */
  retentionMs: number;
  /** WebSocket ping interval; a peer that misses one pong is dropped. Default 25 s. */
  heartbeatMs: number;
  /** SSE keepalive comment interval. Default 15 s. */
  sseKeepaliveMs: number;
  /** SSE `retry:` hint to clients (ms). Default 3000. */
  sseRetryMs: number;
  /** How long a long poll is held when nothing comes. Default 25 s. */
  longPollTimeoutMs: number;
  /** Open connections allowed (WebSocket + SSE + held long polls). Default 10000. */
  maxConnections: number;
  /** Rooms the server may hold. Default 10000. */
  maxRooms: number;
  /** Publishes per second allowed per connection (token bucket rate). Default 20. */
  rateLimitPerSecond: number;
  /** Token bucket size (a burst). Default 40. */
  rateLimitBurst: number;
  /** Bytes a client may leave unread before it is disconnected as too slow. Default 4 MiB. */
  maxBufferedBytes: number;
  /** Allowed Origins for WebSocket and CORS; ['*'] allows any. Same-host origins are always allowed. Env ORIGINS (comma-separated). */
  origins: string[];
  /** Bearer tokens accepted by the native API; empty means no authentication. Env TOKENS (comma-separated). */
  tokens: string[];
  /** Serve the lecture's routes (/poll, /longpoll, /subscribe, /update, WebSocket at /). Default true. */
  seedRoutes: boolean;
  /** A member leaves this long after its last connection. Default 3 s. */
  presenceGraceMs: number;
  /**
   * Write joins and leaves into the room log (default true: every transport, polling included,
   * sees them, in order, and history shows them). False keeps presence out of the log: only
   * `presence` notices go to WebSocket and SSE subscribers, which spares big rooms the churn of
   * thousands of join/leave entries. Env PRESENCE_ENTRIES=false.
   */
  presenceEntries: boolean;
  /** Time allowed for a graceful shutdown before connections are cut. Default 5 s. */
  shutdownTimeoutMs: number;
  /**
   * First part of a graceful shutdown: for this long /readyz answers 503 (draining) and new
   * long-lived connections are refused (SHUTTING_DOWN), while open ones and short requests keep
   * working, so a load balancer's health check takes the node out before its clients are told
   * to reconnect. Counted within `shutdownTimeoutMs`. Env DRAIN_DELAY_MS. Default 0.
   */
  drainDelayMs: number;
  /** Folder of the built web app. Default dist/public of the package. */
  staticDir: string;
  /** pino level: fatal error warn info debug trace silent. Env LOG_LEVEL. Default info. */
  logLevel: string;
  /** Print logs as JSON even on a terminal. Env LOG_FORMAT=json. */
  logJson: boolean;
}

/** The folder holding package.json, from src/server or dist/src/server alike. */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
const packageRoot = findPackageRoot();

export const DEFAULT_CONFIG: ServerConfig = {
  port: 3000,
  host: '::',
  store: 'sqlite',
  dataDir: './data',
  redisUrl: undefined,
  redisPrefix: 'sb:',
  maxMessageBytes: 64 * 1024,
  retentionCount: 10_000,
  retentionMs: 7 * 24 * 3600 * 1000,
  heartbeatMs: 25_000,
  sseKeepaliveMs: 15_000,
  sseRetryMs: 3000,
  longPollTimeoutMs: 25_000,
  maxConnections: 10_000,
  maxRooms: 10_000,
  rateLimitPerSecond: 20,
  rateLimitBurst: 40,
  maxBufferedBytes: 4 * 1024 * 1024,
  origins: ['*'],
  tokens: [],
  seedRoutes: true,
  presenceGraceMs: 3000,
  presenceEntries: true,
  shutdownTimeoutMs: 5000,
  drainDelayMs: 0,
  staticDir: path.join(packageRoot, 'dist', 'public'),
  logLevel: 'info',
  logJson: false,
};

/** The defaults overridden by whatever the environment sets. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const c: ServerConfig = { ...DEFAULT_CONFIG };
  const num = (name: string): number | undefined => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : undefined);
  const list = (name: string): string[] | undefined => (env[name] ? env[name]!.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
  c.port = num('PORT') ?? c.port;
  c.host = env.HOST || c.host;
  c.dataDir = env.DATA_DIR || c.dataDir;
  c.redisUrl = env.REDIS_URL || undefined;
  c.redisPrefix = env.REDIS_PREFIX || c.redisPrefix;
  if (env.STORE === 'memory' || env.STORE === 'sqlite' || env.STORE === 'redis') c.store = env.STORE;
  else if (c.redisUrl) c.store = 'redis';
  c.maxMessageBytes = num('MAX_MESSAGE_BYTES') ?? c.maxMessageBytes;
  c.retentionCount = num('RETENTION_COUNT') ?? c.retentionCount;
  c.retentionMs = num('RETENTION_MS') ?? c.retentionMs;
  c.heartbeatMs = num('HEARTBEAT_MS') ?? c.heartbeatMs;
  c.longPollTimeoutMs = num('LONG_POLL_TIMEOUT_MS') ?? c.longPollTimeoutMs;
  c.maxConnections = num('MAX_CONNECTIONS') ?? c.maxConnections;
  c.drainDelayMs = num('DRAIN_DELAY_MS') ?? c.drainDelayMs;
  c.sseKeepaliveMs = num('SSE_KEEPALIVE_MS') ?? c.sseKeepaliveMs;
  c.maxRooms = num('MAX_ROOMS') ?? c.maxRooms;
  c.rateLimitPerSecond = num('RATE_LIMIT') ?? c.rateLimitPerSecond;
  c.rateLimitBurst = num('RATE_BURST') ?? c.rateLimitBurst;
  c.maxBufferedBytes = num('MAX_BUFFERED_BYTES') ?? c.maxBufferedBytes;
  c.shutdownTimeoutMs = num('SHUTDOWN_TIMEOUT_MS') ?? c.shutdownTimeoutMs;
  if (env.SEED_ROUTES === 'false' || env.SEED_ROUTES === '0') c.seedRoutes = false;
  if (env.PRESENCE_ENTRIES === 'false' || env.PRESENCE_ENTRIES === '0') c.presenceEntries = false;
  c.origins = list('ORIGINS') ?? c.origins;
  c.tokens = list('TOKENS') ?? c.tokens;
  c.logLevel = env.LOG_LEVEL || c.logLevel;
  c.logJson = env.LOG_FORMAT === 'json';
  return c;
}
