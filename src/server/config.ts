import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WebhookEventType } from './webhooks/webhook-event.js';

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
  /** Publishes per second per member (token `sub`), or per address for guests (token bucket rate). Default 20. */
  rateLimitPerSecond: number;
  /** Token bucket size (a burst). Default 40. */
  rateLimitBurst: number;
  /** Bytes a client may leave unread before it is disconnected as too slow. Default 1 MiB. */
  maxBufferedBytes: number;
  /**
   * Allowed Origins for WebSocket and CORS. ['*'] (default) allows any Origin but never with
   * credentials; a list allows exactly those origins (scheme, host and port; the Host header is
   * never trusted). Env ORIGINS (comma-separated).
   */
  origins: string[];
  /** HS256 secret of user tokens (JWT). Setting a key turns authentication on. Env JWT_SECRET. */
  jwtSecret: string | undefined;
  /** PEM file of the public key of user tokens (RS256, ES256, EdDSA). Env JWT_PUBLIC_KEY. */
  jwtPublicKey: string | undefined;
  /** JSON Web Key Set file of user tokens. Env JWKS. */
  jwks: string | undefined;
  /** Required `iss` of tokens. Env JWT_ISSUER. */
  jwtIssuer: string | undefined;
  /** Required `aud` of tokens. Env JWT_AUDIENCE. */
  jwtAudience: string | undefined;
  /** Key of the server API (backends): every right, publish on behalf of members. Env API_KEY. */
  apiKey: string | undefined;
  /** With a token key set: what clients without a token may do in the guest rooms ('none' refuses them). Env GUESTS. */
  guests: 'none' | 'read' | 'write';
  /** Rooms (names or patterns with *) open to guests when a key is set. Env GUEST_ROOMS. Default lobby. */
  guestRooms: string[];
  /** Where signed webhooks go (POST). Env WEBHOOK_URL. */
  webhookUrl: string | undefined;
  /** HMAC-SHA256 key of the webhook signature header. Env WEBHOOK_SECRET. */
  webhookSecret: string | undefined;
  /** Webhook events sent. Default every one but message.published (opt-in). Env WEBHOOK_EVENTS (comma-separated). */
  webhookEvents: WebhookEventType[];
  /** A development route (POST /api/dev/login) that issues a token for any name. Never in production. Env DEV_LOGIN. */
  devLogin: boolean;
  /** Take the client address from the last X-Forwarded-For hop (behind a proxy you run). Env TRUST_PROXY. */
  trustProxy: boolean;
  /** Typing notices per second per member (or address for guests). Default 5, burst twice that. Env TYPING_RATE. */
  typingRatePerSecond: number;
  /** Subscribes per second per member (or address). Default 20, burst 100. Env SUBSCRIBE_RATE. */
  subscribeRatePerSecond: number;
  /** Room creations per second per member (or address). Default 2, burst 20. Env CREATE_RATE. */
  createRatePerSecond: number;
  /** New connections (and presence sessions) per second per address. Default 20, burst 100. Env CONNECT_RATE. */
  connectRatePerSecond: number;
  /** Open connections per address. Default 200. Env MAX_CONNECTIONS_PER_ADDRESS. */
  maxConnectionsPerAddress: number;
  /** Open connections per member (token `sub`). Default 50. Env MAX_CONNECTIONS_PER_MEMBER. */
  maxConnectionsPerMember: number;
  /** Rooms one connection may be subscribed to. Default 100. Env MAX_SUBSCRIPTIONS. */
  maxSubscriptionsPerConnection: number;
  /** Bytes of entries one answer (history, poll) may carry; past it the answer says `more`. Default 1 MiB. Env MAX_ANSWER_BYTES. */
  maxAnswerBytes: number;
  /** A socket that does not take what it was sent within this time is closed. Default 15 s. Env WRITE_TIMEOUT_MS. */
  writeTimeoutMs: number;
  /** Time allowed to send request headers (slowloris). Default 10 s. Env HEADERS_TIMEOUT_MS. */
  headersTimeoutMs: number;
  /** Time allowed to send a whole request body. Default 30 s. Env REQUEST_TIMEOUT_MS. */
  requestTimeoutMs: number;
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
  maxBufferedBytes: 1024 * 1024,
  origins: ['*'],
  jwtSecret: undefined,
  jwtPublicKey: undefined,
  jwks: undefined,
  jwtIssuer: undefined,
  jwtAudience: undefined,
  apiKey: undefined,
  guests: 'none',
  guestRooms: ['lobby'],
  webhookUrl: undefined,
  webhookSecret: undefined,
  webhookEvents: ['member.online', 'member.offline', 'room.created', 'room.deleted'],
  devLogin: false,
  trustProxy: false,
  typingRatePerSecond: 5,
  subscribeRatePerSecond: 20,
  createRatePerSecond: 2,
  connectRatePerSecond: 20,
  maxConnectionsPerAddress: 200,
  maxConnectionsPerMember: 50,
  maxSubscriptionsPerConnection: 100,
  maxAnswerBytes: 1024 * 1024,
  writeTimeoutMs: 15_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
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
  c.jwtSecret = env.JWT_SECRET || undefined;
  c.jwtPublicKey = env.JWT_PUBLIC_KEY || undefined;
  c.jwks = env.JWKS || undefined;
  c.jwtIssuer = env.JWT_ISSUER || undefined;
  c.jwtAudience = env.JWT_AUDIENCE || undefined;
  c.apiKey = env.API_KEY || undefined;
  if (env.GUESTS === 'none' || env.GUESTS === 'read' || env.GUESTS === 'write') c.guests = env.GUESTS;
  c.guestRooms = list('GUEST_ROOMS') ?? c.guestRooms;
  c.webhookUrl = env.WEBHOOK_URL || undefined;
  c.webhookSecret = env.WEBHOOK_SECRET || undefined;
  c.webhookEvents = (list('WEBHOOK_EVENTS') as WebhookEventType[] | undefined) ?? c.webhookEvents;
  c.devLogin = env.DEV_LOGIN === 'true' || env.DEV_LOGIN === '1';
  c.trustProxy = env.TRUST_PROXY === 'true' || env.TRUST_PROXY === '1';
  c.typingRatePerSecond = num('TYPING_RATE') ?? c.typingRatePerSecond;
  c.subscribeRatePerSecond = num('SUBSCRIBE_RATE') ?? c.subscribeRatePerSecond;
  c.createRatePerSecond = num('CREATE_RATE') ?? c.createRatePerSecond;
  c.connectRatePerSecond = num('CONNECT_RATE') ?? c.connectRatePerSecond;
  c.maxConnectionsPerAddress = num('MAX_CONNECTIONS_PER_ADDRESS') ?? c.maxConnectionsPerAddress;
  c.maxConnectionsPerMember = num('MAX_CONNECTIONS_PER_MEMBER') ?? c.maxConnectionsPerMember;
  c.maxSubscriptionsPerConnection = num('MAX_SUBSCRIPTIONS') ?? c.maxSubscriptionsPerConnection;
  c.maxAnswerBytes = num('MAX_ANSWER_BYTES') ?? c.maxAnswerBytes;
  c.writeTimeoutMs = num('WRITE_TIMEOUT_MS') ?? c.writeTimeoutMs;
  c.headersTimeoutMs = num('HEADERS_TIMEOUT_MS') ?? c.headersTimeoutMs;
  c.requestTimeoutMs = num('REQUEST_TIMEOUT_MS') ?? c.requestTimeoutMs;
  c.logLevel = env.LOG_LEVEL || c.logLevel;
  c.logJson = env.LOG_FORMAT === 'json';
  return c;
}
