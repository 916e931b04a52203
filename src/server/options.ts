/**
 * The one table of server options. Each row gives a `ServerConfig` key (also its key in a
 * `--config` JSON file), its flag, its environment variable, its default, its help text and how a
 * value is parsed and checked: from a string (flag or environment) or from JSON (the file).
 * `DEFAULT_CONFIG`, `configFromEnv`, the flags of `switchboard serve` and the README's
 * "Configuration" table are all derived from it; test/options.test.ts keeps the README in step.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { ServerConfig } from './config.js';
import { WEBHOOK_EVENT_TYPES } from './webhooks/webhook-event.js';
import { isClusterUrl, isSentinelUrl } from './redis-url.js';
import { isProxyPeer } from './proxy-protocol.js';
import { cgroupCpuQuota } from './workers/cpu-quota.js';
import { MIN_JWT_SECRET_BYTES, weakJwtSecret } from './auth/jwt-secret.js';

/** How one kind of value is written, parsed and checked. */
export interface ValueKind<T> {
  /** Placeholder of the flag's value in help (`<n>`); none for a switch. */
  readonly placeholder: string | undefined;
  /** What is allowed, said to a person: the end of every error about this value. */
  readonly allowed: string;
  /** Parses the string of a flag or an environment variable. */
  readonly text: z.ZodType<T>;
  /** Parses a value of the config file (JSON). */
  readonly json: z.ZodType<T>;
  /** A value as it is written in the environment (`3000`, `a,b`, `true`). */
  format(value: T): string;
  /** Shown after a number in help and docs (`65536 = 64 KiB`). */
  readonly unit?: 'ms' | 'bytes';
  /** The values allowed, for a value of a fixed set (the README shows them by the flag). */
  readonly choices?: readonly string[];
}

/** One server option. */
export interface OptionSpec<T> {
  /** The long flag of `switchboard serve`, `--no-x` for a switch that turns on-by-default off. */
  readonly flag: string;
  readonly short?: string;
  /** The environment variable. */
  readonly env: string;
  readonly default: T;
  /** One line of help; the README's description too. */
  readonly help: string;
  readonly value: ValueKind<NonNullable<T>>;
  /** Never echoed: not in help, not in errors. */
  readonly secret?: boolean;
  /** The default as docs and help show it, when the value itself says little. */
  readonly defaultText?: string;
}

/** Where a value came from. A flag beats the environment, which beats the file, which beats the default. */
export type OptionSource = 'flag' | 'env' | 'file' | 'options' | 'default';

/** A bad option value or combination: `message` is one line naming the option, its source and what is allowed. */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

// ---------------------------------------------------------------------------------------------
// Kinds of values

const MAX_TIMER_MS = 2_147_483_647; // setTimeout's limit: a longer delay fires at once
const KiB = 1024;
const MiB = 1024 * KiB;
const DAY_MS = 24 * 3600 * 1000;

const oneOf = (values: readonly string[]): string =>
  values.length === 1 ? values[0]! : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** A whole number within [min, max]; text is digits only (no sign, no exponent, no unit). */
function wholeNumber(min: number, max: number, unit?: 'ms' | 'bytes'): ValueKind<number> {
  const allowed = `expected a whole number from ${min} to ${max}${unit === 'ms' ? ' (milliseconds)' : unit === 'bytes' ? ' (bytes)' : ''}`;
  const json = z.number({ error: allowed }).int({ error: allowed }).min(min, { error: allowed }).max(max, { error: allowed });
  return {
    placeholder: unit === 'ms' ? 'ms' : 'n',
    allowed,
    text: z.string().regex(/^[0-9]+$/, { error: allowed }).transform(Number).pipe(json),
    json,
    format: String,
    ...(unit ? { unit } : {}),
  };
}

const ms = (min: number, max = MAX_TIMER_MS): ValueKind<number> => wholeNumber(min, max, 'ms');
const bytes = (min: number, max: number): ValueKind<number> => wholeNumber(min, max, 'bytes');

/** A string, non-empty unless `allowEmpty`. */
function text(placeholder: string, allowEmpty = false): ValueKind<string> {
  const allowed = allowEmpty ? 'expected a string' : 'expected a non-empty string';
  const schema = z.string({ error: allowed }).min(allowEmpty ? 0 : 1, { error: allowed });
  return { placeholder, allowed, text: schema, json: schema, format: String };
}

/**
 * A Redis key prefix: any string without `{` or `}`. Redis Cluster slots a key by its first
 * `{...}`, so a brace in the prefix would take the place of the room's hash tag `{room}` and
 * scatter (or crowd) rooms over the wrong slots.
 */
function redisPrefix(): ValueKind<string> {
  const allowed = 'expected a string without { or }';
  const schema = z.string({ error: allowed }).regex(/^[^{}]*$/, { error: allowed });
  return { placeholder: 'prefix', allowed, text: schema, json: schema, format: String };
}

function oneOfValues<const V extends readonly [string, ...string[]]>(values: V, placeholder: string): ValueKind<V[number]> {
  const allowed = `expected ${oneOf(values)}`;
  const schema = z.enum(values, { error: allowed });
  return { placeholder, allowed, text: schema, json: schema, format: String, choices: values };
}

/** A switch: `true`/`false`/`1`/`0` in the environment, a JSON boolean in the file, a bare flag. */
function onOff(): ValueKind<boolean> {
  const allowed = 'expected true, false, 1 or 0';
  return {
    placeholder: undefined,
    allowed,
    text: z.enum(['true', 'false', '1', '0'], { error: allowed }).transform((v) => v === 'true' || v === '1'),
    json: z.boolean({ error: 'expected true or false' }),
    format: String,
  };
}

/** `logJson`: LOG_FORMAT=json (true) or auto (readable on a terminal, JSON otherwise). */
function logFormat(): ValueKind<boolean> {
  const allowed = 'expected json or auto';
  return {
    placeholder: undefined,
    allowed,
    text: z.enum(['json', 'auto'], { error: allowed }).transform((v) => v === 'json'),
    json: z.boolean({ error: 'expected true or false' }),
    format: (v) => (v ? 'json' : 'auto'),
  };
}

/** A string checked by `valid`; `what` names a good one in errors. */
function checked(placeholder: string, what: string, valid: (s: string) => boolean): ValueKind<string> {
  const allowed = `expected ${what}`;
  const schema = z.string({ error: allowed }).refine(valid, { error: allowed });
  return { placeholder, allowed, text: schema, json: schema, format: String };
}

/** A non-empty list: comma-separated in text, a JSON array of strings in the file. */
function list<I extends string>(item: z.ZodType<I, any>, what: string, placeholder = 'list'): ValueKind<I[]> {
  const allowed = `expected a comma-separated list of ${what}`;
  const json = z.array(item, { error: `expected an array of ${what}` }).min(1, { error: `expected at least one of ${what}` });
  return {
    placeholder,
    allowed,
    text: z.string().transform(splitList).pipe(z.array(item).min(1, { error: `expected at least one of ${what}` })),
    json,
    format: (v) => v.join(','),
  };
}

function urlWith(protocols: readonly string[]): (s: string) => boolean {
  return (s) => {
    try {
      const u = new URL(s);
      return protocols.includes(u.protocol) && u.hostname !== '';
    } catch {
      return false;
    }
  };
}

/** `*`, or an origin exactly as browsers send it: scheme://host[:port], no path. */
function isOrigin(s: string): boolean {
  if (s === '*') return true;
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin !== 'null' && (s === u.origin || s === `${u.origin}/`);
  } catch {
    return false;
  }
}

const originItem = z.string().refine(isOrigin, { error: (iss) => `${JSON.stringify(iss.input)} is not * or an origin scheme://host[:port] (http or https, no path)` });
const roomPatternItem = z
  .string()
  .regex(/^[A-Za-z0-9_.*-]{1,64}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not a room name or pattern (1-64 of A-Z a-z 0-9 _ . - and *)` });
const proxyPeerItem = z.string().refine(isProxyPeer, { error: (iss) => `${JSON.stringify(iss.input)} is not any, an IP address or a CIDR block (10.0.0.0/8, fd00::/8)` });
const webhookEventItem = z.enum(WEBHOOK_EVENT_TYPES, { error: (iss) => `${JSON.stringify(iss.input)} is not one of ${oneOf(WEBHOOK_EVENT_TYPES)}` });

// ---------------------------------------------------------------------------------------------
// The table

/** The folder holding package.json, from src/server or dist/src/server alike. */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

const count = (max: number): ValueKind<number> => wholeNumber(1, max);

/** Most worker processes: far past any core count, short of a typo (`--workers 40000`). */
const MAX_WORKERS = 256;

/**
 * `--workers`: a whole number from 1, or `auto` (one per core the process may use, resolved when
 * read: os.availableParallelism(), or fewer under a container's CPU limit, see cgroupCpuQuota).
 */
function workerCount(): ValueKind<number> {
  const allowed = `expected auto or a whole number from 1 to ${MAX_WORKERS}`;
  const perCore = (): number => Math.min(MAX_WORKERS, availableParallelism(), cgroupCpuQuota() ?? MAX_WORKERS);
  const n = z.number({ error: allowed }).int({ error: allowed }).min(1, { error: allowed }).max(MAX_WORKERS, { error: allowed });
  return {
    placeholder: 'n|auto',
    allowed,
    text: z
      .string()
      .regex(/^(auto|[0-9]+)$/, { error: allowed })
      .transform((v) => (v === 'auto' ? perCore() : Number(v)))
      .pipe(n),
    json: z.union([z.literal('auto').transform(perCore), n], { error: allowed }),
    format: String,
  };
}
const rate = wholeNumber(1, 1_000_000);
const filePath = text('file');
const secret = text('secret');

/** `--jwt-secret`: a secret of at least MIN_JWT_SECRET_BYTES. */
function jwtSecretValue(): ValueKind<string> {
  const allowed = `expected at least ${MIN_JWT_SECRET_BYTES} bytes`;
  const schema = z.string({ error: allowed }).superRefine((v, ctx) => {
    const why = weakJwtSecret(v);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
  });
  return { placeholder: 'secret', allowed, text: schema, json: schema, format: String };
}

/**
 * Every server option, in the order of `switchboard serve --help` and the README. Typed against
 * `ServerConfig`: a key missing here, or a default of the wrong type, does not compile.
 */
export const OPTIONS: { readonly [K in keyof ServerConfig]: OptionSpec<ServerConfig[K]> } = {
  port: { flag: '--port', short: '-p', env: 'PORT', default: 3000, help: 'TCP port (0: any free port)', value: wholeNumber(0, 65_535) },
  host: { flag: '--host', short: '-H', env: 'HOST', default: '::', defaultText: '`::` (all interfaces)', help: 'interface to bind', value: text('host') },
  listenBacklog: {
    flag: '--listen-backlog',
    env: 'LISTEN_BACKLOG',
    default: 4096,
    help: "connections the kernel may hold for the server before it accepts them (capped by the kernel's net.core.somaxconn); past it, a new connection's SYN is dropped and its client tries again 1 s later",
    value: wholeNumber(1, 65_535),
  },
  workers: {
    flag: '--workers',
    env: 'WORKERS',
    default: 1,
    help: 'processes sharing the port, each a full node (`auto`: one per core it may use, a container\'s CPU limit counted); past 1 they share the SQLite file or Redis (docs/operations.md, "Workers")',
    value: workerCount(),
  },
  smallHeap: {
    flag: '--small-heap',
    env: 'SMALL_HEAP',
    default: false,
    help: "workers start with V8's `--optimize-for-size --max-semi-space-size=1 --no-parallel-scavenge`: a smaller process (some 30 MB less for 50,000 connections over 3 workers), up to twice the CPU per long poll and more idle CPU (docs/operations.md, \"Workers\")",
    value: onOff(),
  },
  heapHeadroom: {
    flag: '--no-heap-headroom',
    env: 'HEAP_HEADROOM',
    default: true,
    help: "in a process started with V8's `--heap-growing-percent` (`npm start`, the workers), raise it while long polls are held, to what a broadcast to them promotes (up to 100), so that it does not start major collections of the whole heap two or three times a broadcast; the flag keeps it fixed (docs/operations.md, \"Memory and GC\")",
    value: onOff(),
  },
  sharedLimits: {
    flag: '--no-shared-limits',
    env: 'SHARED_LIMITS',
    default: true,
    help: 'a client has one rate budget for the deployment, not one per process its requests reach: the workers of --workers tell each other, through the primary, what their clients spent and how many connections each holds (the caps per address and per member); with Redis, the nodes tell each other both (sharded pub/sub on `<prefix>limits`, some 10 ms late; a node that dies unannounced is forgotten after 15 s). The flag keeps each process its own (docs/operations.md, "Workers")',
    value: onOff(),
  },
  workerAccept: {
    flag: '--worker-accept',
    env: 'WORKER_ACCEPT',
    default: 'primary',
    help: "with --workers: `primary` accepts each connection and hands it to the workers in turn (an even spread); `shared`: every worker accepts from the listening socket itself, with no handoff through the primary (connect bursts and a rolling restart's reconnections faster, the spread left to the kernel); `address`: the primary hands every connection of a client address (an IPv6 /64) to the same worker, so that the cap of sockets of an address holds for the whole machine, not once per worker (the budgets and the caps of connections per client the workers share in any mode; the spread as even as the addresses are many; not behind a proxy or a balancer, whose address every connection has; docs/operations.md, \"Workers\")",
    value: oneOfValues(['primary', 'shared', 'address'], 'how'),
  },
  workerAppends: {
    flag: '--worker-appends',
    env: 'WORKER_APPENDS',
    default: 'own',
    help: "with --workers and SQLite: `own`, each worker commits its own appends (they wait for each other's write lock); `primary`, the primary commits every worker's (no lock waits, more publishes a second, an acknowledgement a round trip later, a busier primary; docs/operations.md, \"Workers\")",
    value: oneOfValues(['own', 'primary'], 'who'),
  },
  tlsCert: {
    flag: '--tls-cert',
    env: 'TLS_CERT',
    default: undefined,
    help: 'PEM file of the TLS certificate (chain): HTTPS on the port, HTTP/2 and HTTP/1.1 (needs --tls-key)',
    value: filePath,
  },
  tlsKey: { flag: '--tls-key', env: 'TLS_KEY', default: undefined, help: 'PEM file of the private key of --tls-cert', value: filePath },
  store: {
    flag: '--store',
    env: 'STORE',
    default: 'sqlite',
    help: 'message store (`redis` when only a Redis URL is given)',
    value: oneOfValues(['memory', 'sqlite', 'redis'], 'kind'),
  },
  dataDir: { flag: '--data-dir', env: 'DATA_DIR', default: './data', help: 'SQLite folder', value: text('dir') },
  redisUrl: {
    flag: '--redis',
    env: 'REDIS_URL',
    default: undefined,
    help: 'Redis URL (redis:// or rediss://; a Redis Cluster: redis-cluster://host:port,host:port; Redis Sentinel: redis-sentinel://host:port,host:port/master): Redis store and broker, for several nodes',
    value: checked('url', 'a redis://, rediss://, redis-cluster://host:port,... or redis-sentinel://host:port,.../master URL', (s) => urlWith(['redis:', 'rediss:'])(s) || isClusterUrl(s) || isSentinelUrl(s)),
  },
  redisReplicas: {
    flag: '--redis-replicas',
    env: 'REDIS_REPLICAS',
    default: 0,
    help: 'a write is acknowledged, and an entry read, once this many Redis replicas have it too (WAIT): a failover (Redis Sentinel, or in a Redis Cluster the replicas of each slot\'s master) then loses nothing acknowledged or read; make it the number of replicas (of each master): a failover may promote one that lacks a write fewer of them confirmed',
    value: wholeNumber(0, 16),
  },
  redisReplicaTimeoutMs: {
    flag: '--redis-replica-timeout-ms',
    env: 'REDIS_REPLICA_TIMEOUT_MS',
    default: 1000,
    help: 'with --redis-replicas: a write the replicas have not confirmed within this long is refused (STORE_UNAVAILABLE; a retry with the same clientId is stored once)',
    value: ms(10, 60_000),
  },
  redisPrefix: { flag: '--redis-prefix', env: 'REDIS_PREFIX', default: 'sb:', help: 'prefix of every Redis key (no `{` or `}`: the keys of a room share the hash tag `{room}`)', value: redisPrefix() },
  channelIdleMs: {
    flag: '--channel-idle-ms',
    env: 'CHANNEL_IDLE_MS',
    default: 30_000,
    help: 'a room with no subscriber on this node for this long is dropped from memory and no longer heard from the broker',
    value: ms(100),
  },
  maxDeliveryDelayMs: {
    flag: '--max-delivery-delay-ms',
    env: 'MAX_DELIVERY_DELAY_MS',
    default: 250,
    help: 'while HTTP requests of several clients have stood waiting for their turn for 100 ms or more (the process is short of CPU), a room delivers at most once per that wait, up to this long, each batch gathering what came meanwhile; 0: every batch at once',
    value: ms(0, 5000),
  },
  maxMessageBytes: { flag: '--max-message-bytes', env: 'MAX_MESSAGE_BYTES', default: 64 * KiB, help: 'largest message, in bytes', value: bytes(1, 16 * MiB) },
  retentionCount: { flag: '--retention-count', env: 'RETENTION_COUNT', default: 10_000, help: 'entries kept per room', value: count(1_000_000_000) },
  retentionMs: { flag: '--retention-ms', env: 'RETENTION_MS', default: 7 * DAY_MS, help: 'entries older than this are removed', value: ms(1000, 36_500 * DAY_MS) },
  heartbeatMs: { flag: '--heartbeat-ms', env: 'HEARTBEAT_MS', default: 25_000, help: 'WebSocket ping interval; a missed pong drops the peer', value: ms(100) },
  sseKeepaliveMs: { flag: '--sse-keepalive-ms', env: 'SSE_KEEPALIVE_MS', default: 15_000, help: 'SSE keepalive comment interval', value: ms(100) },
  sseRetryMs: { flag: '--sse-retry-ms', env: 'SSE_RETRY_MS', default: 3000, help: 'SSE `retry:` hint: how long clients wait before they reconnect', value: ms(0) },
  longPollTimeoutMs: { flag: '--long-poll-timeout-ms', env: 'LONG_POLL_TIMEOUT_MS', default: 25_000, help: 'how long a long poll is held when nothing comes', value: ms(100, 120_000) },
  maxConnections: {
    flag: '--max-connections',
    env: 'MAX_CONNECTIONS',
    default: 10_000,
    help: 'open WebSocket + SSE + held long-poll connections allowed',
    value: count(10_000_000),
  },
  maxSockets: {
    flag: '--max-sockets',
    env: 'MAX_SOCKETS',
    default: undefined,
    defaultText: 'the open-file limit (`ulimit -n`) − 256; where it cannot be read, 20 000 or --max-connections + 1024 when more',
    help: 'open TCP sockets of one process (each worker of --workers), every address together, the --metrics-port\'s with the main port\'s (which leaves it 16): past it a new connection is closed at once, unanswered, so that sockets leave the store, Redis and logs their files; at least --max-connections',
    value: count(10_000_000),
  },
  maxRooms: { flag: '--max-rooms', env: 'MAX_ROOMS', default: 10_000, help: 'rooms the server may hold', value: count(1_000_000_000) },
  rateLimitPerSecond: { flag: '--rate-limit', env: 'RATE_LIMIT', default: 20, help: 'publishes per second per member (token `sub`), or per address for guests', value: rate },
  rateLimitBurst: { flag: '--rate-burst', env: 'RATE_BURST', default: 40, help: 'publishes allowed in a burst', value: rate },
  maxBufferedBytes: {
    flag: '--max-buffered-bytes',
    env: 'MAX_BUFFERED_BYTES',
    default: MiB,
    help: 'unread bytes before a slow client is dropped (it resumes)',
    value: bytes(KiB, 1024 * MiB),
  },
  origins: {
    flag: '--origins',
    env: 'ORIGINS',
    default: ['*'],
    help: 'allowed Origins for WebSocket and CORS, comma-separated: `*` (never with credentials) or exact `scheme://host:port`',
    value: list(originItem, 'origins (* or scheme://host[:port])'),
  },
  jwtSecret: {
    flag: '--jwt-secret',
    env: 'JWT_SECRET',
    default: undefined,
    defaultText: 'none (open server)',
    help: `HS256 secret of user tokens, at least ${MIN_JWT_SECRET_BYTES} bytes: turns authentication on (better in the environment: out of \`ps\`)`,
    value: jwtSecretValue(),
    secret: true,
  },
  jwtPublicKey: { flag: '--jwt-public-key', env: 'JWT_PUBLIC_KEY', default: undefined, help: 'PEM file of the public key of user tokens (RS256, ES256, EdDSA)', value: filePath },
  jwks: { flag: '--jwks', env: 'JWKS', default: undefined, help: 'JSON Web Key Set file of user tokens', value: filePath },
  jwtIssuer: { flag: '--jwt-issuer', env: 'JWT_ISSUER', default: undefined, help: 'required `iss` of tokens', value: text('iss') },
  jwtAudience: { flag: '--jwt-audience', env: 'JWT_AUDIENCE', default: undefined, help: 'required `aud` of tokens', value: text('aud') },
  apiKey: { flag: '--api-key', env: 'API_KEY', default: undefined, help: 'key of the server API for backends: every right', value: secret, secret: true },
  guests: {
    flag: '--guests',
    env: 'GUESTS',
    default: 'none',
    help: 'with a token key: what clients without a token may do in the guest rooms',
    value: oneOfValues(['none', 'read', 'write'], 'what'),
  },
  guestRooms: {
    flag: '--guest-rooms',
    env: 'GUEST_ROOMS',
    default: ['lobby'],
    help: 'rooms (or patterns with *) open to guests, comma-separated',
    value: list(roomPatternItem, 'room names or patterns'),
  },
  devLogin: { flag: '--dev-login', env: 'DEV_LOGIN', default: false, help: 'DEVELOPMENT ONLY: `POST /api/dev/login` issues a token for any name (needs --jwt-secret)', value: onOff() },
  trustProxy: { flag: '--trust-proxy', env: 'TRUST_PROXY', default: false, help: 'take the client address from the last `X-Forwarded-For` hop', value: onOff() },
  proxyProtocol: {
    flag: '--proxy-protocol',
    env: 'PROXY_PROTOCOL',
    default: undefined,
    defaultText: 'off',
    help: 'TCP load balancers (addresses or CIDR blocks, comma-separated, or `any`) whose connections begin with a PROXY protocol header (v1 or v2): the client address it names is the connection\'s',
    value: list(proxyPeerItem, 'balancers (any, an IP address or a CIDR block)', 'addresses'),
  },
  webhookUrl: {
    flag: '--webhook-url',
    env: 'WEBHOOK_URL',
    default: undefined,
    help: 'POST signed webhooks here (needs --webhook-secret)',
    value: checked('url', 'an http:// or https:// URL', urlWith(['http:', 'https:'])),
  },
  webhookSecret: { flag: '--webhook-secret', env: 'WEBHOOK_SECRET', default: undefined, help: 'HMAC-SHA256 key of the webhook signature', value: secret, secret: true },
  webhookEvents: {
    flag: '--webhook-events',
    env: 'WEBHOOK_EVENTS',
    default: ['member.online', 'member.offline', 'room.created', 'room.deleted'],
    help: `webhook events sent, comma-separated: ${WEBHOOK_EVENT_TYPES.join(', ')}`,
    value: list(webhookEventItem, `events (${WEBHOOK_EVENT_TYPES.join(', ')})`),
  },
  typingRatePerSecond: { flag: '--typing-rate', env: 'TYPING_RATE', default: 5, help: 'typing notices per second per member or guest address (burst 2×)', value: rate },
  subscribeRatePerSecond: { flag: '--subscribe-rate', env: 'SUBSCRIBE_RATE', default: 20, help: 'subscribes per second per member or guest address (burst 5×)', value: rate },
  queryRatePerSecond: { flag: '--query-rate', env: 'QUERY_RATE', default: 10, help: 'searches, unread/read-state queries and scrapes of /metrics on the main port without --metrics-token per second per member or guest address (burst 5×)', value: rate },
  readMiBPerSecond: {
    flag: '--read-rate',
    env: 'READ_RATE',
    default: 16,
    help: 'MiB of history, poll, presence and room-list answers and subscription replays per second per member or guest address (burst 4×); an answer under 64 KiB costs none',
    value: rate,
  },
  authFailureRatePerSecond: {
    flag: '--auth-failure-rate',
    env: 'AUTH_FAILURE_RATE',
    default: 10,
    help: 'token verifications that may fail per second per address (burst 5×); past it, tokens not verified before are refused unverified',
    value: rate,
  },
  tlsHandshakeRatePerSecond: {
    flag: '--tls-handshake-rate',
    env: 'TLS_HANDSHAKE_RATE',
    default: 50,
    help: 'new TLS connections (each a handshake) per second per address (burst 10×), with --tls-cert and without --trust-proxy; past it a connection is closed before its handshake',
    value: rate,
  },
  createRatePerSecond: { flag: '--create-rate', env: 'CREATE_RATE', default: 2, help: 'rooms created per second per member or guest address (burst 10×)', value: rate },
  roomsPerDay: {
    flag: '--rooms-per-day',
    env: 'ROOMS_PER_DAY',
    default: 1000,
    help: 'rooms one member or guest address may create per day (the API key: no bound), so that no one client takes all of --max-rooms',
    value: count(100_000_000),
  },
  connectRatePerSecond: { flag: '--connect-rate', env: 'CONNECT_RATE', default: 20, help: 'new connections and presence joins per second per address (burst 5×)', value: rate },
  maxConnectionsPerAddress: {
    flag: '--max-connections-per-address',
    env: 'MAX_CONNECTIONS_PER_ADDRESS',
    default: 200,
    help: 'open connections per address',
    value: count(10_000_000),
  },
  maxConnectionsPerMember: { flag: '--max-connections-per-member', env: 'MAX_CONNECTIONS_PER_MEMBER', default: 50, help: 'open connections per member', value: count(10_000_000) },
  maxSubscriptionsPerConnection: { flag: '--max-subscriptions', env: 'MAX_SUBSCRIPTIONS', default: 100, help: 'rooms one connection may subscribe to', value: count(100_000) },
  maxAnswerBytes: {
    flag: '--max-answer-bytes',
    env: 'MAX_ANSWER_BYTES',
    default: MiB,
    help: 'bytes of entries in one history or poll answer (then `more`)',
    value: bytes(KiB, 256 * MiB),
  },
  writeTimeoutMs: { flag: '--write-timeout-ms', env: 'WRITE_TIMEOUT_MS', default: 15_000, help: 'a client that takes nothing it was sent for this long is cut', value: ms(100) },
  headersTimeoutMs: { flag: '--headers-timeout-ms', env: 'HEADERS_TIMEOUT_MS', default: 10_000, help: 'time to send request headers (at most --request-timeout-ms)', value: ms(100) },
  requestTimeoutMs: { flag: '--request-timeout-ms', env: 'REQUEST_TIMEOUT_MS', default: 30_000, help: 'time to send a whole request', value: ms(100) },
  seedRoutes: {
    flag: '--no-seed-routes',
    env: 'SEED_ROUTES',
    default: true,
    help: "serve the lecture's routes (`/poll`, `/longpoll`, `/subscribe`, `/update`, WebSocket at `/`); the flag turns them off",
    value: onOff(),
  },
  presenceGraceMs: { flag: '--presence-grace-ms', env: 'PRESENCE_GRACE_MS', default: 3000, help: 'a member leaves this long after its last connection', value: ms(0) },
  presenceEntries: {
    flag: '--presence-entries',
    env: 'PRESENCE_ENTRIES',
    default: false,
    help: 'also write joins and leaves to the log as `join` / `leave` entries (a durable write per arrival); off, they are live `presence` notices only',
    value: onOff(),
  },
  presenceNoticeRate: {
    flag: '--presence-notice-rate',
    env: 'PRESENCE_NOTICE_RATE',
    default: 2000,
    help: "members per second this node's presence notices may go to (a notice counts its room's members); past it a room's notice waits and gathers the changes meanwhile (a reconnect storm)",
    value: rate,
  },
  shutdownTimeoutMs: { flag: '--shutdown-timeout-ms', env: 'SHUTDOWN_TIMEOUT_MS', default: 5000, help: 'graceful shutdown deadline', value: ms(0) },
  drainDelayMs: { flag: '--drain-delay-ms', env: 'DRAIN_DELAY_MS', default: 0, help: 'on SIGTERM, `/readyz` answers 503 this long before connections are closed', value: ms(0) },
  metrics: { flag: '--no-metrics', env: 'METRICS', default: true, help: 'serve Prometheus metrics at `/metrics`; the flag turns them off (404)', value: onOff() },
  metricsPort: {
    flag: '--metrics-port',
    env: 'METRICS_PORT',
    default: undefined,
    defaultText: 'none (on the main port)',
    help: 'the operations port: `/metrics` on this port of --metrics-host, and no longer on the main port, plus `/healthz` and `/readyz` (still on the main port too) (0: any free port)',
    value: wholeNumber(0, 65_535),
  },
  metricsHost: { flag: '--metrics-host', env: 'METRICS_HOST', default: '127.0.0.1', help: 'interface of --metrics-port', value: text('host') },
  metricsToken: {
    flag: '--metrics-token',
    env: 'METRICS_TOKEN',
    default: undefined,
    help: '`/metrics` needs `Authorization: Bearer <token>` (401 otherwise), on whichever port serves it (better in the environment: out of `ps`)',
    value: secret,
    secret: true,
  },
  staticDir: {
    flag: '--static-dir',
    env: 'STATIC_DIR',
    default: path.join(findPackageRoot(), 'dist', 'public'),
    defaultText: '`dist/public` of the package',
    help: 'folder of the built web app; one given must exist (serve stops with exit code 2 otherwise)',
    value: text('dir'),
  },
  logLevel: {
    flag: '--log-level',
    env: 'LOG_LEVEL',
    default: 'info',
    help: 'log level',
    value: oneOfValues(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'level'),
  },
  accessLog: {
    flag: '--no-access-log',
    env: 'ACCESS_LOG',
    default: true,
    help: 'the access log: an `info` line per HTTP request and per WebSocket open and close; the flag turns it off',
    value: onOff(),
  },
  accessLogRate: {
    flag: '--access-log-rate',
    env: 'ACCESS_LOG_RATE',
    default: 20,
    help: 'access-log lines per second per client address (burst 10×); its requests past that are counted, not written: the next line of the address says how many (`skipped`)',
    value: rate,
  },
  logJson: { flag: '--log-json', env: 'LOG_FORMAT', default: false, help: 'JSON logs even on a terminal (otherwise readable there, JSON elsewhere)', value: logFormat() },
};

export type OptionKey = keyof ServerConfig;

/** One row of the table with its key. */
export type OptionRow = OptionSpec<unknown> & { readonly key: OptionKey };

/** The table as a list, in its order. */
export const OPTION_LIST: readonly OptionRow[] = (Object.keys(OPTIONS) as OptionKey[]).map((key) => ({ key, ...(OPTIONS[key] as OptionSpec<unknown>) }));

const copy = <T>(v: T): T => (Array.isArray(v) ? ([...v] as T) : v);

/** Every option at its default. A fresh object (and fresh arrays) on each call. */
export function defaultConfig(): ServerConfig {
  return Object.fromEntries(OPTION_LIST.map((o) => [o.key, copy(o.default)])) as unknown as ServerConfig;
}

// ---------------------------------------------------------------------------------------------
// Resolving: flag > environment > file > default

/** The values to resolve, each optional. */
export interface ConfigSources {
  /** Flags given on the command line, by key: the raw string, or a boolean for a switch. */
  flags?: Partial<Record<OptionKey, string | boolean>>;
  /** The environment: unset and empty variables count as not given. */
  env?: NodeJS.ProcessEnv;
  /** A parsed config file (`readConfigFile`): an object of option keys; `null` counts as not given. */
  file?: { name: string; values: unknown };
  /**
   * What `createSwitchboard` was given, by key, read as a config file's values (a number is a
   * number); an `undefined` value counts as not given, an unknown key is refused. Used alone.
   */
  options?: Record<string, unknown>;
}

/** An option set by a bare flag, without a value (`--dev-login`, `--no-seed-routes`). */
const isSwitch = (o: OptionRow): boolean => o.value.placeholder === undefined;

function where(o: OptionRow, source: OptionSource, fileName?: string): string {
  if (source === 'flag') return 'the command line';
  if (source === 'env') return `env ${o.env}`;
  if (source === 'file') return `file ${fileName} (key "${o.key}")`;
  if (source === 'options') return `createSwitchboard option ${o.key}`;
  return 'default';
}

/** A raw value as errors show it: JSON, secrets hidden, URL passwords masked. */
function shown(o: OptionRow, raw: unknown): string {
  if (o.secret) return '(hidden)';
  const s = JSON.stringify(raw) ?? String(raw);
  return s.replace(/(\/\/[^/:@\s]*:)[^/@\s]+@/g, '$1***@');
}

function parseOne(o: OptionRow, raw: unknown, source: 'flag' | 'env' | 'file' | 'options', fileName?: string): unknown {
  if (source === 'flag' && typeof raw === 'boolean') {
    if (isSwitch(o)) return raw;
    throw new OptionError(`${o.flag} needs a value: ${o.value.allowed}`);
  }
  const schema = source === 'file' || source === 'options' ? o.value.json : o.value.text;
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new OptionError(refusal(o, raw, r.error.issues[0]?.message ?? o.value.allowed, source, fileName));
}

/**
 * A refused value, in one sentence that names the option once, as its user gave it
 * (`--port: "abc" is not valid, expected a whole number from 0 to 65535`, `--port (env PORT): ...`,
 * `createSwitchboard option port: ...`); a secret's value shows as `(hidden)`.
 */
function refusal(o: OptionRow, raw: unknown, message: string, source: 'flag' | 'env' | 'file' | 'options', fileName?: string): string {
  const subject =
    source === 'options' ? `createSwitchboard option ${o.key}` : source === 'flag' ? o.flag : source === 'env' ? `${o.flag} (env ${o.env})` : `${o.flag} (file ${fileName}, key "${o.key}")`;
  return `${subject}: ${shown(o, raw)} is not valid${message.startsWith('expected ') ? ', ' : ': '}${message}`;
}

/** Edit distance of two short strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The key of the table meant by a mistaken one (`prot`, `REDIS_URL`, `max-rooms`), for "did you mean". */
function closest(key: string): string | undefined {
  const squash = (s: string): string => s.toLowerCase().replace(/^--(no-)?/, '').replace(/[-_]/g, '');
  const wanted = squash(key);
  const named = OPTION_LIST.find((o) => [o.key, o.flag, o.env].some((name) => squash(name) === wanted));
  if (named) return named.key;
  const [best] = OPTION_LIST.map((o) => ({ key: o.key, d: distance(wanted, o.key.toLowerCase()) })).sort((x, y) => x.d - y.d);
  return best && best.d <= 2 ? best.key : undefined;
}

/**
 * The configuration from flags, environment and file over the defaults (flag > environment >
 * file > default), with the rules that tie options together:
 * - a Redis URL and no store given anywhere: store `redis`;
 * - store `redis` needs a Redis URL; `devLogin` needs `jwtSecret`; `webhookUrl` needs
 *   `webhookSecret`; `headersTimeoutMs` must not exceed `requestTimeoutMs`;
 *   `maxSockets`, when given, is at least `maxConnections`; `metricsPort` needs
 *   `metrics` on and differs from `port`; `tlsCert` and `tlsKey` go together; `workers` past 1
 *   needs a shared store (not `memory`); a `staticDir` given is an existing folder.
 * Every value given is checked, overridden or not. Throws OptionError (one line naming the
 * option and where the value came from) at the first bad value or broken rule. `createSwitchboard`
 * resolves its options here too (`sources.options`, over `defaults` DEFAULT_CONFIG), so an embedded
 * server refuses what serve refuses.
 */
export function resolveConfig(sources: ConfigSources = {}, defaults: ServerConfig = defaultConfig()): ServerConfig {
  const config = Object.fromEntries(Object.entries(defaults).map(([key, value]) => [key, copy(value)])) as Record<OptionKey, unknown>;
  const from = Object.fromEntries(OPTION_LIST.map((o) => [o.key, 'default'])) as Record<OptionKey, OptionSource>;
  const fileName = sources.file?.name;
  // Checked in the order a person reads them (what was typed, then the environment, then the
  // file), applied in the order of precedence.
  const flagValues = new Map<OptionKey, unknown>();
  for (const o of OPTION_LIST) {
    const raw = sources.flags?.[o.key];
    if (raw !== undefined) flagValues.set(o.key, parseOne(o, raw, 'flag'));
  }
  const envValues = new Map<OptionKey, unknown>();
  for (const o of OPTION_LIST) {
    const raw = sources.env?.[o.env];
    if (raw !== undefined && raw !== '') envValues.set(o.key, parseOne(o, raw, 'env'));
  }
  const fileValues = new Map<OptionKey, unknown>();
  if (sources.file) {
    const values = sources.file.values;
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new OptionError(`invalid --config file ${fileName}: expected a JSON object of options`);
    for (const [key, raw] of Object.entries(values)) {
      const o = OPTION_LIST.find((x) => x.key === key);
      if (!o) {
        const near = closest(key);
        throw new OptionError(`invalid --config file ${fileName}: unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
      }
      if (raw !== null) fileValues.set(o.key, parseOne(o, raw, 'file', fileName));
    }
  }
  const optionValues = new Map<OptionKey, unknown>();
  for (const [key, raw] of Object.entries(sources.options ?? {})) {
    const o = OPTION_LIST.find((x) => x.key === key);
    if (!o) {
      const near = closest(key);
      throw new OptionError(`unknown createSwitchboard option "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
    if (raw !== undefined) optionValues.set(o.key, parseOne(o, raw, 'options'));
  }
  for (const [source, values] of [['file', fileValues], ['env', envValues], ['flag', flagValues], ['options', optionValues]] as const) {
    for (const [key, value] of values) {
      config[key] = value;
      from[key] = source;
    }
  }

  const c = config as unknown as ServerConfig;
  const cameFrom = (key: OptionKey): string => where(OPTION_LIST.find((o) => o.key === key)!, from[key], fileName);
  if (c.redisUrl && from.store === 'default') c.store = 'redis';
  if (c.store === 'redis' && !c.redisUrl) throw new OptionError(`--store redis needs --redis (REDIS_URL); store redis came from ${cameFrom('store')}`);
  if (c.devLogin && !c.jwtSecret) throw new OptionError(`--dev-login needs --jwt-secret (JWT_SECRET): its tokens are signed with it; dev login came from ${cameFrom('devLogin')}`);
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    const given = c.tlsCert !== undefined ? 'tlsCert' : 'tlsKey';
    const missing = OPTIONS[given === 'tlsCert' ? 'tlsKey' : 'tlsCert'];
    throw new OptionError(`${OPTIONS[given].flag} needs ${missing.flag} (${missing.env}): HTTPS takes a certificate and its key; ${OPTIONS[given].flag} came from ${cameFrom(given)}`);
  }
  if (c.webhookUrl && !c.webhookSecret) throw new OptionError(`--webhook-url needs --webhook-secret (WEBHOOK_SECRET) to sign the webhooks; the URL came from ${cameFrom('webhookUrl')}`);
  if (c.headersTimeoutMs > c.requestTimeoutMs) {
    throw new OptionError(
      `--headers-timeout-ms (${c.headersTimeoutMs}, from ${cameFrom('headersTimeoutMs')}) must not exceed --request-timeout-ms (${c.requestTimeoutMs}, from ${cameFrom('requestTimeoutMs')})`,
    );
  }
  if (c.maxSockets !== undefined && c.maxSockets < c.maxConnections) {
    throw new OptionError(
      `--max-sockets (${c.maxSockets}, from ${cameFrom('maxSockets')}) must be at least --max-connections (${c.maxConnections}, from ${cameFrom('maxConnections')}): each of those connections holds a socket`,
    );
  }
  if (c.workers > 1 && c.store === 'memory') {
    throw new OptionError(
      `--workers ${c.workers} (from ${cameFrom('workers')}) needs a store the workers share: --store memory (from ${cameFrom('store')}) keeps one log per process; use --store sqlite (the default) or redis`,
    );
  }
  if (c.workerAppends === 'primary' && (c.redisUrl !== undefined || c.store !== 'sqlite')) {
    const other = c.redisUrl !== undefined ? `--redis (from ${cameFrom('redisUrl')}), where each worker is a node of its own` : `--store ${c.store} (from ${cameFrom('store')})`;
    throw new OptionError(`--worker-appends primary (from ${cameFrom('workerAppends')}) is for the SQLite file the workers share, not with ${other}`);
  }
  if (c.workerAccept === 'address' && (c.trustProxy || c.proxyProtocol !== undefined)) {
    // Behind a proxy every connection comes from it: one worker would take them all.
    const proxy = c.trustProxy ? `--trust-proxy (from ${cameFrom('trustProxy')})` : `--proxy-protocol (from ${cameFrom('proxyProtocol')})`;
    throw new OptionError(`--worker-accept address (from ${cameFrom('workerAccept')}) sends the connections of one address to one worker, and behind ${proxy} every connection has the proxy's address: use --worker-accept primary`);
  }
  if (c.metricsPort !== undefined && !c.metrics) {
    throw new OptionError(`--metrics-port (from ${cameFrom('metricsPort')}) serves metrics that --no-metrics (from ${cameFrom('metrics')}) turns off: give one of them`);
  }
  if (c.metricsPort !== undefined && c.metricsPort !== 0 && c.metricsPort === c.port) {
    throw new OptionError(`--metrics-port (${c.metricsPort}, from ${cameFrom('metricsPort')}) must differ from --port (from ${cameFrom('port')})`);
  }
  // A folder given must be there, as the files of --tls-cert or --jwks must: the web app would
  // silently answer 404. The default one is missing until the web app is built (npx vite build).
  // Passed on as given, the default folder is still the default (`serve` hands its whole configuration to createSwitchboard).
  if (from.staticDir !== 'default' && !(from.staticDir === 'options' && path.resolve(c.staticDir) === path.resolve(defaults.staticDir))) {
    const why = notAFolder(c.staticDir);
    if (why !== undefined && from.staticDir === 'options') throw new OptionError(`cannot use staticDir ${c.staticDir}: ${why}`);
    if (why !== undefined) throw new OptionError(`cannot use --static-dir ${c.staticDir} (from ${cameFrom('staticDir')}): ${why}`);
  }
  return c;
}

/** Why `dir` is not a folder that can be read (no such folder, a file...), or undefined when it is one. */
export function notAFolder(dir: string): string | undefined {
  try {
    return statSync(dir).isDirectory() ? undefined : 'a file, not a folder';
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? 'no such folder' : e.code === 'EACCES' ? 'permission denied' : e.code === 'ENOTDIR' ? 'a file is on its path' : (e.code ?? e.message);
  }
}

/** Reads a `--config` file: JSON. Throws OptionError when it cannot be read or parsed. */
export function readConfigFile(file: string): { name: string; values: unknown } {
  let body: string;
  try {
    body = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'a folder, not a file' : e.message;
    throw new OptionError(`cannot read --config file ${file}: ${why}`);
  }
  try {
    return { name: file, values: JSON.parse(body) as unknown };
  } catch (err) {
    throw new OptionError(`invalid --config file ${file}: not JSON (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Help and docs

function humanUnit(n: number, unit: 'ms' | 'bytes'): string | undefined {
  if (n === 0) return undefined;
  const steps: [number, string][] =
    unit === 'ms'
      ? [
          [DAY_MS, n === DAY_MS ? 'day' : 'days'],
          [3600_000, 'h'],
          [60_000, 'min'],
          [1000, 's'],
        ]
      : [
          [MiB, 'MiB'],
          [KiB, 'KiB'],
        ];
  const step = steps.find(([size]) => n % size === 0);
  return step ? `${n / step[0]} ${step[1]}` : undefined;
}

/**
 * The default of an option as help and docs show it (`25000 = 25 s` in help, `25000 (25 s)` in
 * docs), or undefined when it has none, or is a secret's.
 */
export function defaultShown(o: OptionRow, style: 'help' | 'markdown'): string | undefined {
  if (o.defaultText) return style === 'help' ? o.defaultText.replace(/`/g, '') : o.defaultText;
  if (o.secret || o.default === undefined) return undefined;
  if (typeof o.default === 'boolean') return o.default ? 'on' : 'off';
  if (typeof o.default === 'number') {
    const human = o.value.unit ? humanUnit(o.default, o.value.unit) : undefined;
    return human ? (style === 'help' ? `${o.default} = ${human}` : `${o.default} (${human})`) : String(o.default);
  }
  const written = o.value.format(o.default as never);
  return style === 'help' ? written : `\`${written}\``;
}

/** How the environment sets an option: `PORT`, or for a switch the value that flips it (`DEV_LOGIN=true`). */
export function envShown(o: OptionRow): string {
  return isSwitch(o) ? `${o.env}=${o.value.format(!o.default as never)}` : o.env;
}

/** The flag with its value placeholder, as commander takes it: `-p, --port <n>`. */
export function flagSpec(o: OptionRow): string {
  return `${o.short ? `${o.short}, ` : ''}${o.flag}${isSwitch(o) ? '' : ` <${o.value.placeholder}>`}`;
}

/** The help line of an option: its text and its environment variable. */
export function helpText(o: OptionRow): string {
  const choices = o.value.choices ? `${oneOf(o.value.choices)}; ` : '';
  return `${o.help.replace(/`/g, '')} (${choices}env ${envShown(o)})`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/**
 * The README's "Configuration" block: how options are given, then one row per option (flag,
 * environment variable, default, file key and description). test/options.test.ts checks that the
 * README holds exactly this text.
 */
export function optionsMarkdown(): string {
  const lines = [
    'Flags of `switchboard serve` (`npx switchboard serve --help`), environment variables (switches',
    'take `true`, `false`, `1` or `0`), or a JSON file given with `--config FILE`, keyed by the names',
    'that start the last column (`{"port": 8080, "store": "redis", "redisUrl": "redis://cache:6379"}`;',
    'lists are arrays, `null` means not set).',
    'A flag beats the environment, which beats the file, which beats the default. A bad value, an',
    'unknown key or options that do not go together (`--store redis` without `--redis`,',
    '`--dev-login` without `--jwt-secret`, `--webhook-url` without `--webhook-secret`) stop',
    '`serve` with one line naming the option and where it came from, and exit code 2.',
    '',
    '| flag | env | default | |',
    '|---|---|---|---|',
  ];
  for (const o of OPTION_LIST) {
    const flag = o.value.choices ? `\`${o.flag} ${o.value.choices.join('|')}\`` : `\`${o.flag}\``;
    const cells = [flag, `\`${envShown(o)}\``, defaultShown(o, 'markdown') ?? '', `\`${o.key}\`: ${o.help}`];
    lines.push(`|${cells.map((c) => (c ? ` ${cell(c)} ` : ' ')).join('|')}|`);
  }
  return `${lines.join('\n')}\n`;
}
