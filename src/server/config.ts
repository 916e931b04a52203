import { defaultConfig, resolveConfig } from './options.js';
import type { WebhookEventType } from './webhooks/webhook-event.js';

/**
 * Every server option. Their flags, environment variables, config-file keys, defaults, help and
 * checks are one table, `OPTIONS` in options.ts, which must list every field here (it does not
 * compile otherwise).
 */
export interface ServerConfig {
  /** TCP port. Env PORT. Default 3000 (the lecture's). */
  port: number;
  /** Interface to bind. Env HOST. Default '::' (every interface, IPv4 too). */
  host: string;
  /**
   * The listen backlog: connections the kernel holds before the server accepts them (the kernel
   * caps it at net.core.somaxconn). Env LISTEN_BACKLOG. Default 4096, where node's is 511.
   */
  listenBacklog: number;
  /**
   * Processes serving the port (`switchboard serve` only; `createSwitchboard` ignores it): 1 is one
   * process; N > 1 a primary and N worker processes sharing the port (node:cluster), each a full
   * node, fanning out through the primary without Redis. `auto` (one per core) is resolved when
   * read. Env WORKERS. Default 1.
   */
  workers: number;
  /**
   * Workers start with V8's --optimize-for-size --max-semi-space-size=1 --no-parallel-scavenge (src/server/v8-flags.ts):
   * a smaller process (some 30 MB less for 50,000 connections over 3 workers, next to the default
   * flags), up to twice the CPU per long poll and more idle CPU. Env SMALL_HEAP.
   */
  smallHeap: boolean;
  /**
   * In a process started with V8's --heap-growing-percent (npm start, the workers), raise it while
   * long polls are held, to what a broadcast to them promotes (src/server/heap-headroom.ts); false
   * keeps the start's value fixed. Env HEAP_HEADROOM. Default true.
   */
  heapHeadroom: boolean;
  /**
   * The rate budgets of a client are one for the whole deployment: the workers of `workers` tell
   * each other what their clients spent, and how many connections they hold (workers/shared-limits.ts);
   * with Redis, the nodes tell each other both (redis-limit-peers.ts). False:
   * each process its own budgets and caps. Env SHARED_LIMITS. Default true.
   */
  sharedLimits: boolean;
  /**
   * How workers get their connections (`switchboard serve` with `workers` past 1): 'primary', the
   * primary accepts each and hands it to the workers in turn (node:cluster's round-robin: an even
   * spread); 'shared', every worker accepts from the shared listening socket itself
   * (node:cluster's SCHED_NONE: no handoff through the primary, the kernel spreads them). Env
   * WORKER_ACCEPT. Default 'primary'.
   */
  workerAccept: 'primary' | 'shared' | 'address';
  /**
   * Who writes the workers' entries to the SQLite file they share (`workers` past 1, no Redis):
   * 'own', each worker its own (waiting for the others' write lock in SQLite's busy handler,
   * asleep); 'primary', the primary every worker's (no lock waits, more publishes a second; an
   * acknowledgement a round trip to the primary more, and the primary's commits in the loop
   * that relays). Env WORKER_APPENDS. Default 'own'.
   */
  workerAppends: 'own' | 'primary';
  /**
   * PEM file of the TLS certificate (chain). With `tlsKey`: HTTPS on `port`, ALPN `h2` and
   * `http/1.1` (HTTP/2 for SSE, polls and the API; WebSocket over HTTP/1.1). Both or neither. Env TLS_CERT.
   */
  tlsCert: string | undefined;
  /** PEM file of the certificate's private key. Env TLS_KEY. */
  tlsKey: string | undefined;
  /** 'memory' | 'sqlite' | 'redis'. Default 'sqlite' ('redis' when a Redis URL is given). Env STORE. */
  store: 'memory' | 'sqlite' | 'redis';
  /** Where SQLite keeps its file. Env DATA_DIR. Default ./data */
  dataDir: string;
  /** Redis URL: switches store and broker to Redis. Env REDIS_URL. */
  redisUrl: string | undefined;
  /** Replicas that must have a Redis write before it is acknowledged (WAIT). Env REDIS_REPLICAS. Default 0. */
  redisReplicas: number;
  /** How long a write waits for those replicas, ms. Env REDIS_REPLICA_TIMEOUT_MS. Default 1000. */
  redisReplicaTimeoutMs: number;
  /** Prefix of every Redis key. Env REDIS_PREFIX. Default 'sb:'. */
  redisPrefix: string;
  /**
   * A room's live channel on this node with no local subscriber for this long (ms) is dropped,
   * and the node stops listening to the room's broker traffic. Env CHANNEL_IDLE_MS. Default 30 s.
   */
  channelIdleMs: number;
  /**
   * While HTTP requests of two client addresses or more have stood waiting for a turn of the event
   * loop for 100 ms or more (the process is short of CPU; one address's flood alone does not
   * count), a room delivers at most once per that wait, up to this long (ms), each batch gathering what came meanwhile
   * (delivery-pace.ts). 0: every batch at once. Env MAX_DELIVERY_DELAY_MS. Default 250.
   */
  maxDeliveryDelayMs: number;
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
  /**
   * Open TCP sockets of this process on its port, every address together (a worker of
   * `--workers`: its own); past it a new connection is closed at once, unanswered. At least
   * `maxConnections`. Undefined (default): the open-file limit less 256 (socket-caps.ts,
   * defaultMaxSockets). Env MAX_SOCKETS.
   */
  maxSockets: number | undefined;
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
  /**
   * TCP load balancers (IP addresses or CIDR blocks, or `any`) that begin each connection with a
   * PROXY protocol header (v1 or v2): a connection from one must, within `headersTimeoutMs`, and
   * the client address the header names is the connection's, for the caps, budgets and logs.
   * Connections from elsewhere are served under their own address (their header would not be
   * believed). Undefined: off. Env PROXY_PROTOCOL (comma-separated). See proxy-protocol.ts.
   */
  proxyProtocol: string[] | undefined;
  /** Typing notices per second per member (or address for guests). Default 5, burst twice that. Env TYPING_RATE. */
  typingRatePerSecond: number;
  /** Subscribes per second per member (or address). Default 20, burst 100. Env SUBSCRIBE_RATE. */
  subscribeRatePerSecond: number;
  /** Searches and unread/read-state queries per second per member (or address). Default 10, burst 50. Env QUERY_RATE. */
  queryRatePerSecond: number;
  /**
   * MiB of history, poll, presence and room-list answers and subscription replays per second per
   * member (or guest address), burst 4×: an answer costs one unit of 64 KiB per 64 KiB it holds
   * (one under 64 KiB costs none), paid after it (into debt: the next such requests and
   * subscribes wait). Default 16. Env READ_RATE.
   */
  readMiBPerSecond: number;
  /**
   * Token verifications that may fail per second per address, burst 5×: each costs one unit (into
   * debt); while an address owes, a token from it that is not known already (verified before,
   * cached) is refused (RATE_LIMITED) without any cryptography. Default 10. Env AUTH_FAILURE_RATE.
   */
  authFailureRatePerSecond: number;
  /**
   * New TLS connections per second per address, burst 10× (with `tlsCert`; not behind
   * `trustProxy`, where every connection is the proxy's): a full handshake costs the server
   * 0.6-0.8 ms of CPU. Past it a connection is closed before its handshake, unanswered (TLS was
   * not spoken yet), counted in `switchboard_errors_total{code="RATE_LIMITED"}`. Default 50. Env
   * TLS_HANDSHAKE_RATE.
   */
  tlsHandshakeRatePerSecond: number;
  /** Room creations per second per member (or address). Default 2, burst 20. Env CREATE_RATE. */
  createRatePerSecond: number;
  /**
   * Rooms one member (or guest address) may create per day, on top of the per-second rate: the
   * bound of what one client can take of `maxRooms` (the API key is not bounded). Default 1000.
   * Env ROOMS_PER_DAY.
   */
  roomsPerDay: number;
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
  /**
   * Members per second that this node's presence notices may go to (each notice counts the
   * room's members). Past it a room's notice waits, gathering the changes meanwhile into one, so
   * a reconnect storm over many rooms costs a bounded fan-out. Default 2000. Env PRESENCE_NOTICE_RATE.
   */
  presenceNoticeRate: number;
  /** Time allowed for a graceful shutdown before connections are cut. Default 5 s. */
  shutdownTimeoutMs: number;
  /**
   * First part of a graceful shutdown: for this long /readyz answers 503 (draining) and new
   * long-lived connections are refused (SHUTTING_DOWN), while open ones and short requests keep
   * working, so a load balancer's health check takes the node out before its clients are told
   * to reconnect. Counted within `shutdownTimeoutMs`. Env DRAIN_DELAY_MS. Default 0.
   */
  drainDelayMs: number;
  /** Serve Prometheus metrics at /metrics (false: 404 there, on every port). Env METRICS=false. Default true. */
  metrics: boolean;
  /**
   * Serve /metrics on this port of `metricsHost`, with a server of its own, and not on the main
   * port (nor under an `attach`ed server). Undefined (default): on the main port. 0: any free port.
   * Env METRICS_PORT.
   */
  metricsPort: number | undefined;
  /** Interface of `metricsPort`. Env METRICS_HOST. Default 127.0.0.1 (this machine only). */
  metricsHost: string;
  /** When set, /metrics needs `Authorization: Bearer <token>` (401 otherwise), on whichever port serves it. Env METRICS_TOKEN. */
  metricsToken: string | undefined;
  /** Folder of the built web app. Default dist/public of the package. */
  staticDir: string;
  /** pino level: fatal error warn info debug trace silent. Env LOG_LEVEL. Default info. */
  logLevel: string;
  /** The access log (`request` lines, WebSocket `open` and `close` lines) at `info`. Env ACCESS_LOG. Default true. */
  accessLog: boolean;
  /**
   * Access-log lines per second per client address, burst ten times that: one client flooding
   * requests cannot fill the disk. Past it its requests are counted, not written. Env
   * ACCESS_LOG_RATE. Default 20.
   */
  accessLogRate: number;
  /** Print logs as JSON even on a terminal. Env LOG_FORMAT=json. */
  logJson: boolean;
}

/** Every option at its default, from the table of options.ts. */
export const DEFAULT_CONFIG: ServerConfig = defaultConfig();

/**
 * The defaults overridden by whatever the environment sets (the variables of options.ts; unset and
 * empty ones count as not given), with the rules that tie options together (a Redis URL alone
 * selects the Redis store). Throws OptionError, one line naming the variable, on a bad value.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return resolveConfig({ env });
}
