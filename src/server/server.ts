import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createHash, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type https from 'node:https';
import type { Http2SecureServer } from 'node:http2';
import type { Duplex, Readable } from 'node:stream';
import net, { type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import sirv from 'sirv';
import { DEFAULT_ROOM } from '../protocol/constants.js';
import { AccessLog, noteAskedUrl } from './access-log.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { Ack, HistoryPage, JsonValue, PresenceMember, RoomInfo } from '../protocol/types.js';
import type { Broker } from './broker/broker.js';
import { createBroker } from './broker/create-broker.js';
import { DEFAULT_CONFIG, type ServerConfig } from './config.js';
import { ConnectionRegistry } from './connection-registry.js';
import type { ServerContext } from './context.js';
import { countAnswer, refusePipelined } from './answer-close.js';
import { answerClientError } from './client-error.js';
import { closeAfter, continueWhenRead, cutResponse, isHttp2, originForm, repeatsHost, sendJson, stopReading, type HttpRequest, type HttpResponse } from './http-util.js';
import { APP_PRINCIPAL } from './auth/principal.js';
import { loadTokenVerifierFromFiles, type TokenVerifier } from './auth/token-verifier.js';
import { Hub, type HubEvent } from './hub.js';
import { DerivedIds } from './session/derived-ids.js';
import { Limits, READ_UNITS_PER_MIB, type LimitPeers } from './session/limits.js';
import { RedisLimitPeers } from './redis-limit-peers.js';
import type { SwitchboardHooks } from './session/hooks.js';
import { LogLimiter } from './session/log-limiter.js';
import { clientAddress, normalizeOrigins } from './session/handshake.js';
import { Policy } from './session/policy.js';
import { Session } from './session/session.js';
import { PresenceTickets } from './session/presence-ticket.js';
import { registerDevLogin } from './transports/dev-login.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { OptionError, resolveConfig } from './options.js';
import { answerMetrics, createMetricsServer, listenMetrics } from './metrics-endpoint.js';
import { MemoryPresenceStore } from './presence/memory-presence-store.js';
import type { PresenceStore } from './presence/presence-store.js';
import { RedisPresenceStore } from './presence/redis-presence-store.js';
import { sharedPresenceKey } from './presence/presence-key.js';
import { DeliveryPace } from './delivery-pace.js';
import { RequestScheduler } from './request-scheduler.js';
import { Router, commonHeaders, type RouteInfo } from './router.js';
import { createSecureServer, KEEP_ALIVE_TIMEOUT_MS, type SecureServer } from './secure-server.js';
import { actAs, fromProxy, proxyPeers, readProxyHeader, tlsActAs } from './proxy-protocol.js';
import { capSockets, defaultMaxSockets, OPERATIONS_SOCKETS, openFileLimit, RESERVED_FILES, SocketBudget, type SocketCap } from './socket-caps.js';
import { createStore } from './store/create-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { shownRedisUrl } from './redis-url.js';
import type { MessageStore } from './store/message-store.js';
import { registerHttpApi } from './transports/http-api.js';
import { registerPolling } from './transports/polling.js';
import { registerSeedRoutes } from './transports/seed-routes.js';
import { registerSse } from './transports/sse.js';
import { WebSocketGateway } from './transports/websocket.js';
import { turnBudget } from './turn-budget.js';
import { HeapHeadroom, startingGrowingPercent } from './heap-headroom.js';

/**
 * The options of `createSwitchboard`: those of `switchboard serve` by their key (ServerConfig),
 * checked as serve checks its flags (type, range, the rules that tie them, an unknown key): an
 * OptionError otherwise. A key whose value is `undefined` is left out (the default applies).
 */
export interface SwitchboardOptions extends Partial<ServerConfig> {
  /** A logger to use instead of one made from `logLevel`. */
  logger?: Logger;
  /** A store to use instead of the one `store` names (tests inject their own). */
  messageStore?: MessageStore;
  /** A broker to use instead of the one `redisUrl` implies. */
  broker?: Broker;
  /** A presence store to use instead of the one `redisUrl` implies. */
  presenceStore?: PresenceStore;
  /** A token verifier to use instead of the one the jwt options make. */
  tokenVerifier?: TokenVerifier;
  /**
   * Where Switchboard lives on a shared server (`attach`, `handler`): `/chat` serves
   * `/chat/api/...`, `/chat/api/ws` and the app at `/chat/`. Default '' (the whole server).
   */
  path?: string;
  /** In-process hooks, run inside the session pipeline: onConnect, onSubscribe, onPublish (see session/hooks.ts). */
  hooks?: SwitchboardHooks;
  /**
   * This node's id among worker processes (`--workers`, src/server/workers/): every HTTP answer,
   * and the answer of every WebSocket upgrade, carries it in an `x-switchboard-node` header. None
   * by default (no header).
   */
  node?: string;
  /**
   * The key of presence tickets when no secret derives one (workers get the primary's, so each
   * accepts the tickets of the others). A Redis-backed server still takes the cluster's key from Redis.
   */
  presenceKey?: Buffer;
  /**
   * What `/metrics` answers (Prometheus text) instead of this server's own registry: a worker's
   * asks the primary for every worker's metrics, aggregated.
   */
  metricsText?: () => Promise<string>;
  /**
   * The other processes whose rate budgets and caps of connections per client are this server's
   * (a worker's: the other workers, over the primary, workers/shared-limits.ts); none: its own
   * alone. With Redis (and `sharedLimits`), budgets and caps are shared with the deployment's
   * nodes over Redis instead, and these peers are not used.
   */
  limitPeers?: LimitPeers;
}

/**
 * Headers of the web app's files: a strict Content Security Policy (scripts, styles and
 * connections to this origin only; no framing), no MIME sniffing, no Referer.
 */
function appHeaders(res: ServerResponse): void {
  res.setHeader(
    'content-security-policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  );
  res.setHeader('x-frame-options', 'DENY');
}

/**
 * The folder of the SDK's browser build (`vite build -c vite.client.config.ts`: dist/browser of
 * the package), served at `/switchboard-client.js`; undefined when it was not built.
 */
function browserSdkDir(): string | undefined {
  // The same dist/browser from dist/src/server (the package) and src/server (tsx).
  return ['../../browser/', '../../dist/browser/'].map((u) => fileURLToPath(new URL(u, import.meta.url))).find((dir) => existsSync(`${dir}switchboard-client.js`));
}

/**
 * Serves a file of the web app with sirv, whose types name HTTP/1.x's objects only. It reads the
 * request's `method`, `url` and `headers`, and answers with `statusCode`, `setHeader`,
 * `getHeader`, `writeHead`, `end` and a file stream piped into the response: HTTP/2's
 * compatibility objects have each of them (test/e2e/tls.test.ts loads the app over h2).
 */
function serveFile(files: ReturnType<typeof sirv>, req: HttpRequest, res: HttpResponse, next: () => void, fail: (err: unknown) => void): void {
  // sirv takes a Range header as it comes: `bytes=5-2`, or an end past 2^53, made its file
  // stream throw, out of the request and the process (one GET stopped the server). Any Range but
  // one plain `bytes=<first>-[<last>]` is ignored (RFC 9110 14.2 lets a server): the whole file, 200.
  const range = req.headers.range;
  if (range !== undefined && !plainRange(range)) delete req.headers.range;
  // Whatever fails in there ends this answer, not the process: a 500, or the answer cut when its head is out.
  const failed = (err: unknown): void => {
    fail(err);
    if (res.headersSent) cutResponse(res);
  };
  // sirv pipes a file stream into the answer with no listener for its errors, after its head: a
  // file gone since start-up (the app rebuilt while the server runs, and a page asking for its
  // old assets) ended the process with ENOENT.
  res.once('pipe', (file: Readable) => file.once('error', failed));
  try {
    files(req as IncomingMessage, res as ServerResponse, next);
  } catch (err) {
    failed(err);
  }
}

/** `bytes=<first>-` or `bytes=<first>-<last>` with first ≤ last, each short of 2^53 (what sirv reads right). */
function plainRange(range: string): boolean {
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(range);
  return m !== null && (m[2] === '' || Number(m[1]) <= Number(m[2]));
}

/** Requests of one address that may wait for a turn of the event loop (RequestScheduler); past it: RATE_LIMITED. */
const MAX_WAITING_PER_ADDRESS = 1024;

/**
 * `work`, whose failure at start-up is told in one line: what could not be done and why
 * (`cannot open the SQLite store data/switchboard.db: unable to open database file`), not as
 * the catalog's STORE_UNAVAILABLE, whose words are a publish's ("nothing was stored"). Errors
 * that are not the catalog's say what they are about already (`cannot create the data folder...`).
 */
async function opening<T>(what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof SwitchboardError)) throw err;
    throw new Error(`cannot ${what}: ${(err.detail ?? err.message).replace(/\s*\n\s*/g, ' ')}`, { cause: err });
  }
}

/** `/chat/` → `/chat`; '' and `/` → ''. OptionError naming `path` otherwise, as the other options. */
function normalizePath(path: unknown): string {
  const refused = (): OptionError => new OptionError(`createSwitchboard option path: ${JSON.stringify(path) ?? String(path)} is not valid, expected a URL path that starts with / (as "/chat")`);
  if (typeof path !== 'string') throw refused();
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(trimmed)) throw refused();
  return trimmed;
}

/**
 * The key of presence tickets. Nodes of one cluster must share it: derived from a configured
 * secret when there is one, else a random one kept in Redis for the cluster (sharedPresenceKey),
 * else random per process (one node).
 */
function presenceKey(config: ServerConfig): Buffer | undefined {
  const secret = config.jwtSecret ?? config.apiKey ?? config.webhookSecret;
  return secret ? createHash('sha256').update(`switchboard presence tickets\0${secret}`).digest() : undefined;
}

/** A message an application publishes (see Switchboard.publish). */
export interface AppMessage {
  /** The text; may be '' (or absent) when `data` is given. */
  text?: string;
  /** Application data: any JSON value, within the size limit. */
  data?: JsonValue;
  /** An event name (1-64 of A-Z a-z 0-9 _ . : -). */
  event?: string;
  /** Whom it is from: a member (and its name); none: the system. */
  member?: string;
  name?: string;
  /** Idempotency key (scoped to the sender, as every clientId). */
  clientId?: string;
}

/** Something that emits Node's `request` and `upgrade` events: http, https or http2 (with allowHTTP1) servers. */
export type AttachableServer = http.Server | https.Server | Http2SecureServer;

/** A running (or ready to run) Switchboard server. */
export interface Switchboard {
  readonly config: ServerConfig;
  /**
   * The server `listen` binds (unused when attached to your own server): an `http.Server`, or with
   * `tlsCert` and `tlsKey` an HTTP/2 secure server that speaks HTTP/1.1 too.
   */
  readonly http: http.Server | Http2SecureServer;
  readonly hub: Hub;
  readonly context: ServerContext;
  /**
   * The port serving `/metrics` when `metricsPort` is set (the one chosen for 0), once `start`
   * has bound it; undefined otherwise (metrics on the main port, or off).
   */
  readonly metricsPort: number | undefined;
  /**
   * The HTTP routes served (method, and path pattern under `path`: `:room` stands for a room
   * name), for a proxy's or a gateway's configuration. WebSocket upgrades are taken at
   * `<path>/api/ws` and, with the lecture's routes, `<path>/`; the web app's files answer GETs
   * no route takes.
   */
  readonly routes: readonly RouteInfo[];
  /**
   * Opens the store, broker and presence store and starts the timers; with `metricsPort`, binds
   * the metrics port first. `listen` and `attach` users call it once. Idempotent.
   */
  start(): Promise<void>;
  /** `start`, then listens on `port` and `host` with a server of its own. Resolves with the bound port. */
  listen(): Promise<number>;
  /**
   * `start`, then serves connections accepted elsewhere instead of listening (the workers of
   * `--worker-accept address`, whose primary listens): resolves with the function to hand each
   * one to, unread and not paused (as a server's `connection` event gives it). Such a connection has what `listen` gives its own: the caps of `maxSockets`
   * and per address, node's headers and request deadlines, and a graceful close that waits for it.
   */
  takeConnections(): Promise<(socket: Socket) => void>;
  /**
   * Serves Switchboard on your own server, under `path` (all of it when `path` is ''): requests
   * and WebSocket upgrades under it are Switchboard's, the others go to your handlers as before.
   * Call `start()` too. Your server keeps its own timeouts: the deadlines of `listen`
   * (headers, requests, idle writes, sockets per address) are yours to set there, and so is a
   * cap on its open sockets (`maxSockets` caps only the servers Switchboard opens).
   */
  attach(server: AttachableServer): void;
  /**
   * A connect / Express middleware: requests under `path` are handled, the others go to `next`.
   * WebSocket upgrades need `attach`, or `handleUpgrade` on your server's `upgrade` event.
   */
  handler(req: HttpRequest, res: HttpResponse, next?: (err?: unknown) => void): void;
  /** Takes a WebSocket upgrade under `path`; false when it is not Switchboard's (yours to handle). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Publishes from application code, as the system or on behalf of a member. Throws like the REST route. */
  publish(room: string, message: AppMessage): Promise<Ack>;
  /** A page of a room's history, newest last. */
  history(room: string, options?: { before?: number; limit?: number }): Promise<HistoryPage>;
  /** Who is in a room now. */
  presence(room: string): Promise<PresenceMember[]>;
  /** Creates a room (no error when it exists). */
  createRoom(room: string): Promise<RoomInfo>;
  /** Ends a member's connections (to `room` only, when given) on every node. */
  disconnect(member: string, room?: string): Promise<void>;
  /**
   * Stops taking new connections (the listening socket closes; with workers, node:cluster sends
   * them to the others) and keeps serving the open ones until `close`. A rolling restart's old
   * workers do so once the first new one listens, so that no client moves twice.
   */
  stopAccepting(): void;
  /** Graceful shutdown (see docs/protocol.md, "Shutdown"): bounded by `shutdownTimeoutMs`. */
  close(): Promise<void>;
}

/**
 * The composition root: builds the store, the broker, the hub and every transport, and mounts
 * them on one HTTP server (one port for all four transports and the web app). Throws OptionError
 * on a bad option (see SwitchboardOptions) before it opens anything.
 */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  const { logger: givenLogger, messageStore, broker: givenBroker, presenceStore: givenPresence, tokenVerifier, path, hooks, node, presenceKey: givenPresenceKey, metricsText, limitPeers, ...overrides } =
    options;
  const prefix = normalizePath(path ?? '');
  // Checked as serve checks its flags (each value, and the rules that tie them), before anything
  // is opened (a store, a Redis client), so that a throw leaves nothing behind.
  const config: ServerConfig = resolveConfig({ options: overrides }, DEFAULT_CONFIG);
  config.origins = normalizeOrigins(config.origins);
  const logger = givenLogger ?? createLogger(config.logLevel, config.logJson ? false : undefined);
  const metrics = new Metrics();
  const store = messageStore ?? createStore({ kind: config.store, dataDir: config.dataDir, ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), redisPrefix: config.redisPrefix, redisReplicas: config.redisReplicas, redisReplicaTimeoutMs: config.redisReplicaTimeoutMs, logger });
  const broker = givenBroker ?? createBroker({ kind: config.redisUrl ? 'redis' : 'local', ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), redisPrefix: config.redisPrefix, logger });
  metrics.countRoomsWith(() => store.countRooms());
  if (store instanceof SqliteStore) metrics.storeCommitsFrom(() => store.commitStats);
  const presence: PresenceStore = givenPresence ?? (config.redisUrl ? new RedisPresenceStore(config.redisUrl, config.redisPrefix, { logger }) : new MemoryPresenceStore());
  const webhooks = config.webhookUrl
    ? new WebhookDispatcher({ url: config.webhookUrl, secret: config.webhookSecret ?? '', events: new Set(config.webhookEvents), logger, registry: metrics.registry })
    : undefined;
  // Workers are named by the primary (w1, w2...); other nodes by host and process.
  const nodeId = node ?? `${hostname()}/${process.pid}`;
  // With Redis, the nodes share their clients' budgets and caps over it (each worker a node: the
  // workers' IPC peers, `limitPeers`, are not used then; told both ways, a spend would count twice).
  const redisPeers =
    config.sharedLimits && config.redisUrl ? new RedisLimitPeers({ url: config.redisUrl, prefix: config.redisPrefix, sender: `${nodeId}/${randomUUID()}`, logger }) : undefined;
  const peers = config.sharedLimits ? (redisPeers ?? limitPeers) : undefined;
  // Requests run within the per-turn budget the WebSocket frames share, fairly between addresses.
  const scheduler = new RequestScheduler({ budget: turnBudget, maxWaitingPerAddress: MAX_WAITING_PER_ADDRESS });
  metrics.requestsWaitingFrom(() => scheduler.size);
  // While requests of several addresses stand waiting there, a room's deliveries are gathered (delivery-pace.ts).
  const deliveryPace = new DeliveryPace(config.maxDeliveryDelayMs, () => scheduler.backlogMs());
  metrics.pacedBatchesFrom(() => deliveryPace.paced);
  const hub = new Hub({
    store,
    broker,
    presence,
    node: nodeId,
    logger,
    metrics,
    maxRooms: config.maxRooms,
    presenceGraceMs: config.presenceGraceMs,
    presenceNoticeRate: config.presenceNoticeRate,
    presenceEntries: config.presenceEntries,
    pollPresenceTtlMs: Math.max(35_000, config.longPollTimeoutMs + 10_000),
    typingTtlMs: 5000,
    channelIdleMs: config.channelIdleMs,
    maxAnswerBytes: config.maxAnswerBytes,
    deliveryPace,
    ...(webhooks ? { onEvent: (type: HubEvent, data: Record<string, unknown>) => webhooks.emit(type, data) } : {}),
  });
  const limits = new Limits({
    rates: {
      publish: { perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst },
      typing: { perSecond: config.typingRatePerSecond, burst: config.typingRatePerSecond * 2 },
      subscribe: { perSecond: config.subscribeRatePerSecond, burst: config.subscribeRatePerSecond * 5 },
      create: { perSecond: config.createRatePerSecond, burst: config.createRatePerSecond * 10 },
      rooms: { perSecond: config.roomsPerDay / 86_400, burst: config.roomsPerDay },
      query: { perSecond: config.queryRatePerSecond, burst: config.queryRatePerSecond * 5 },
      read: { perSecond: config.readMiBPerSecond * READ_UNITS_PER_MIB, burst: config.readMiBPerSecond * READ_UNITS_PER_MIB * 4 },
      connect: { perSecond: config.connectRatePerSecond, burst: config.connectRatePerSecond * 5 },
      auth: { perSecond: config.authFailureRatePerSecond, burst: config.authFailureRatePerSecond * 5 },
      tls: { perSecond: config.tlsHandshakeRatePerSecond, burst: config.tlsHandshakeRatePerSecond * 10 },
      accessLog: { perSecond: config.accessLogRate, burst: config.accessLogRate * 10 },
    },
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxConnectionsPerMember: config.maxConnectionsPerMember,
    ...(peers ? { peers } : {}),
  });
  if (peers) metrics.sharedLimitsFrom(() => ({ ...limits.peerTraffic, spendsDropped: peers.dropped ?? 0 }));
  const connections = new ConnectionRegistry(config.maxConnections, metrics, limits);
  // A process started with a cap on the old generation's growth (`npm start`, the workers): raised while long polls are held.
  const startingGrowth = config.heapHeadroom ? startingGrowingPercent() : undefined;
  const headroom = startingGrowth === undefined ? undefined : new HeapHeadroom(startingGrowth, () => metrics.openConnections('long-polling').value);
  if (headroom) metrics.heapGrowingFrom(() => headroom.percent);
  hub.onDisconnect((member, room) => connections.disconnect(member, room));
  const verifier =
    tokenVerifier ??
    loadTokenVerifierFromFiles({ secret: config.jwtSecret, publicKeyFile: config.jwtPublicKey, jwksFile: config.jwks, issuer: config.jwtIssuer, audience: config.jwtAudience });
  const policy = new Policy({ verifier, apiKey: config.apiKey, guests: config.guests, guestRooms: config.guestRooms, guard: (address) => limits.addressGuard(address) });
  const tickets = new PresenceTickets(presenceKey(config) ?? givenPresenceKey);
  const ids = new DerivedIds();
  const accessLog = new AccessLog(logger, { enabled: config.accessLog, addressOf: (req) => clientAddress(req, config.trustProxy), limits, skippedTotal: metrics.accessLogSkipped });
  const ctx: ServerContext = { config, hub, logger, accessLog, badInput: new LogLimiter(logger), metrics, connections, policy, limits, tickets, ids, hooks: hooks ?? {}, commonHeaders: commonHeaders(node) };

  const staticFiles = existsSync(config.staticDir) ? sirv(config.staticDir, { etag: true, gzip: true, single: false, setHeaders: appHeaders }) : undefined;
  // Said once at start: otherwise `/` answers 404 with nothing in the log to say why.
  if (!staticFiles) logger.warn({ staticDir: config.staticDir }, 'no web app to serve: its folder is missing (npm run build makes it); the API and the lecture routes work');
  const sdkDir = browserSdkDir();
  const sdkFiles = sdkDir ? sirv(sdkDir, { etag: true, single: false, setHeaders: appHeaders }) : undefined;
  const router = new Router(ctx, (req, res) => notFound(req, res));
  function notFound(req: HttpRequest, res: HttpResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const allowed = router.methodsOf(path);
    const err = allowed.length > 0 ? new SwitchboardError('METHOD_NOT_ALLOWED', req.method) : new SwitchboardError('NOT_FOUND', path.slice(0, 200));
    // RFC 9110: a 405 says which methods the resource has.
    if (allowed.length > 0) res.setHeader('allow', allowed.join(', '));
    // `/switchboard-client.js` (and its source map): the SDK for pages without a bundler (docs/client.md).
    const files = sdkFiles && /^\/switchboard-client\.js(\.map)?$/.test(path) ? sdkFiles : staticFiles;
    if (files && (req.method === 'GET' || req.method === 'HEAD') && err.code === 'NOT_FOUND') {
      serveFile(files, req, res, () => router.fail(res, err), (e) => router.fail(res, e, req));
      return;
    }
    router.fail(res, err);
  }

  registerHttpApi(router, ctx);
  registerPolling(router, ctx);
  registerSse(router, ctx);
  if (config.seedRoutes) registerSeedRoutes(router, ctx);
  if (config.devLogin) registerDevLogin(router, ctx);
  router.on('GET', '/healthz', (_req, res) => {
    sendJson(res, 200, { status: 'ok' });
  });
  // The WebSocket endpoint asked without an upgrade (a proxy that drops the Upgrade header, a
  // host application that passes no upgrades on, a browser's address bar): said so, not 404.
  router.on('GET', '/api/ws', (req) => {
    throw new SwitchboardError('UPGRADE_REQUIRED', req.headers.upgrade === undefined ? 'no Upgrade header came: a proxy in between may drop it' : 'the upgrade did not reach Switchboard: embedded, pass upgrades on with attach() or handleUpgrade()');
  });
  /** What `/readyz` answers, on the main port and on the operations port. */
  async function readiness(): Promise<{ status: number; body: object }> {
    const [storeOk, brokerOk] = await Promise.all([store.ping(), broker.ping()]);
    const ready = storeOk && brokerOk && !connections.draining;
    return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'unavailable', store: storeOk, broker: brokerOk, draining: connections.draining } };
  }
  router.on('GET', '/readyz', async (_req, res) => {
    const { status, body } = await readiness();
    sendJson(res, status, body);
  });
  // On the main port (and under an attached server) only when no metrics port takes them.
  if (config.metrics && config.metricsPort === undefined) {
    router.on('GET', '/metrics', async (req, res) => {
      // Without --metrics-token anyone may scrape here, and a collection costs milliseconds at
      // scale (some 20 ms at 15,000 connections, docs/operations.md): a scrape spends a unit of
      // the address's query budget. Scrapes at once share one collection (Metrics.scrape).
      if (config.metricsToken === undefined) limits.take('query', `ip:${clientAddress(req, config.trustProxy)}`, 'scrapes of /metrics on the main port spend --query-rate: move them to --metrics-port, or set --metrics-token');
      await answerMetrics(metrics, config.metricsToken, req, res, metricsText);
    });
  }
  const metricsServer =
    config.metrics && config.metricsPort !== undefined
      ? createMetricsServer({
          metrics,
          token: config.metricsToken,
          ...(metricsText ? { text: metricsText } : {}),
          headersTimeoutMs: config.headersTimeoutMs,
          requestTimeoutMs: config.requestTimeoutMs,
          onInternal: (err) => logger.error({ err }, 'metrics failed'),
          readiness,
        })
      : undefined;
  let metricsPort: number | undefined;

  /** Requests of one connection that may wait for their answer at once (pipelining). */
  const MAX_PIPELINED = 4;
  /** Serves a request known to be Switchboard's (its URL already without the prefix). */
  function serve(req: HttpRequest, res: HttpResponse): void {
    if (connections.closesAfterAnswers) closeAfter(res);
    // HTTP/2 multiplexes instead: its streams are bounded per connection by the secure server.
    if (isHttp2(req)) {
      schedule(req, res);
      return;
    }
    // RFC 9112 §3.2: a request with more than one Host is answered 400.
    if (repeatsHost(req as IncomingMessage)) {
      ctx.accessLog.request(req, res);
      closeAfter(res);
      router.fail(res, new SwitchboardError('BAD_REQUEST', 'more than one Host header'), req);
      return;
    }
    // HTTP pipelining: Node runs every request of a chunk at once and holds each answer until
    // the client has read the ones before. A client may leave a few requests unanswered at most.
    // Unanswered requests of each HTTP/1.x connection (answer-close.ts).
    if (countAnswer(res as ServerResponse) > MAX_PIPELINED) {
      refuseOverPipelined(req, res as ServerResponse);
      return;
    }
    schedule(req, res);
  }
  /**
   * The first request past MAX_PIPELINED gets TOO_MANY_CONNECTIONS_FROM_YOU after the answers
   * before it, and closes the connection; nothing more of it is read, and the requests already
   * read behind it are not run.
   */
  function refuseOverPipelined(req: HttpRequest, res: ServerResponse): void {
    if (!refusePipelined(res)) return;
    stopReading(req.socket as Socket);
    closeAfter(res);
    router.fail(res, new SwitchboardError('TOO_MANY_CONNECTIONS_FROM_YOU', `at most ${MAX_PIPELINED} pipelined requests wait for their answers on one connection`), req);
  }
  function schedule(req: HttpRequest, res: HttpResponse): void {
    // Most requests run at once: no callback made for them. Stream opens too (RouteOptions.opensStream).
    if (scheduler.runsNow() || router.opensStream(req)) {
      if (!req.socket.destroyed) router.handle(req, res);
      return;
    }
    const queued = performance.now();
    const run = (): void => {
      metrics.requestWait.observe((performance.now() - queued) / 1000);
      // The client may have gone while the request waited for its turn.
      if (!req.socket.destroyed) router.handle(req, res);
    };
    if (!scheduler.run(clientAddress(req, config.trustProxy), run)) {
      metrics.errors.inc({ code: 'RATE_LIMITED' });
      router.fail(res, new SwitchboardError('RATE_LIMITED', 'too many requests from your address wait for an answer'));
    }
  }
  /** True when the request is under the prefix; its URL then loses the prefix. */
  function claim(req: HttpRequest): boolean {
    const asked = req.url ?? '/';
    // A target in absolute form (`GET http://host/chat/api/rooms`, as a proxy may send it) is read
    // as its path: the prefix is matched on it and the routes see origin form.
    const url = originForm(asked);
    if (!prefix) {
      if (url !== asked) {
        noteAskedUrl(req, asked);
        req.url = url;
      }
      return true;
    }
    if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) return false;
    const rest = url.slice(prefix.length);
    noteAskedUrl(req, asked);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    return true;
  }

  /**
   * Serves a request under the prefix (false: not Switchboard's, left untouched). A GET or HEAD
   * of the prefix itself is redirected to it with a slash (`/chat` → `/chat/`), query kept.
   */
  function take(req: HttpRequest, res: HttpResponse): boolean {
    const url = originForm(req.url ?? '/');
    if (!claim(req)) return false;
    if (prefix && (req.method === 'GET' || req.method === 'HEAD') && url.split('?')[0] === prefix) {
      // The web app's page loads its files relative to itself: at `/chat` its `./assets/...` would be
      // `/assets/...`, outside the prefix (the host application's). Its WebSocket upgrades stay at `/chat`.
      res.writeHead(308, { location: `${prefix}/${url.slice(prefix.length)}`, 'content-length': '0' });
      res.end();
      return true;
    }
    serve(req, res);
    return true;
  }
  const onRequest = (req: HttpRequest, res: HttpResponse): void => {
    if (!take(req, res)) router.fail(res, new SwitchboardError('NOT_FOUND', (req.url ?? '').split('?')[0]!.slice(0, 200)));
  };
  // HTTPS: one port, HTTP/2 and HTTP/1.1 (WebSocket upgrades among them), the same deadlines (secure-server.ts).
  const secure: SecureServer | undefined =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? createSecureServer({
          certFile: config.tlsCert,
          keyFile: config.tlsKey,
          headersTimeoutMs: config.headersTimeoutMs,
          requestTimeoutMs: config.requestTimeoutMs,
          writeTimeoutMs: config.writeTimeoutMs,
          onRequest,
          onTlsError: (err) => logger.debug({ err: err.message }, 'TLS handshake failed'),
        })
      : undefined;
  const server: http.Server | Http2SecureServer = secure?.server ?? plainServer();
  function plainServer(): http.Server {
    // requireHostHeader off: the lecture's raw `nc` handshake sends no Host header.
    const plain = http.createServer(
      {
        requireHostHeader: false,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        // Slow senders (slowloris) are cut: headers, then the whole request, each within a deadline, checked every second.
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        connectionsCheckingInterval: 1000,
      },
      onRequest,
    );
    // A socket that takes nothing of what it was sent (a reader that never reads) for this long is
    // destroyed; long-lived answers (SSE, held polls) and WebSockets manage their own deadlines.
    plain.setTimeout(config.writeTimeoutMs);
    return plain;
  }
  // `Expect: 100-continue`: the 100 goes out only when a route starts reading the body
  // (readJsonBody), so that a body refused before (too large, wrong type) is never sent.
  server.on('checkContinue', (req: HttpRequest, res: HttpResponse) => {
    continueWhenRead(req, res);
    onRequest(req, res);
  });
  // Any other expectation (RFC 9110 §10.1.1): 417 as a catalog error (node's own has no body).
  server.on('checkExpectation', (req: HttpRequest, res: HttpResponse) => {
    // In the access log as a routed request is (Router.handle).
    ctx.accessLog.request(req, res);
    router.fail(res, new SwitchboardError('EXPECTATION_FAILED', `got Expect: ${String(req.headers.expect).slice(0, 40)}`), req);
  });
  // Accepting a burst of connections comes before their requests (TurnBudget).
  server.on('connection', () => turnBudget.noteAccept());
  const openFiles = openFileLimit();
  const maxSockets = config.maxSockets ?? defaultMaxSockets(config.maxConnections, openFiles);
  // One budget for the main port and the metrics port: the open-file limit is the process's.
  const sockets = new SocketBudget(maxSockets);
  // A flood of refused sockets is a line each 10 s at most, the next one saying how many were held back.
  const refusals = new LogLimiter(logger, 1, 10_000);
  const onRefused = (socket: Socket, cap: SocketCap): void => {
    if (cap === 'address' || cap === 'rate') {
      metrics.errors.inc({ code: cap === 'address' ? 'TOO_MANY_CONNECTIONS_FROM_YOU' : 'RATE_LIMITED' });
      return;
    }
    metrics.socketsRefused.inc();
    refusals.warn('max-sockets', { maxSockets, address: socket.remoteAddress }, 'connection refused: this process holds --max-sockets open sockets');
  };
  // Never below --max-connections for the main port (none left when the open-file limit leaves less: warned of).
  const leave = metricsServer ? Math.max(0, Math.min(OPERATIONS_SOCKETS, maxSockets - config.maxConnections)) : 0;
  // Over TLS each new socket is a handshake: a rate per address (--tls-handshake-rate). Behind a proxy, every socket is the proxy's: neither cap.
  const handshakes = secure && !config.trustProxy ? (address: string): boolean => limits.tryTake('tls', `ip:${address}`) : undefined;
  // Behind TCP load balancers (--proxy-protocol), a connection of theirs is its client's once its header is read.
  const balancers = config.proxyProtocol ? proxyPeers(config.proxyProtocol) : undefined;
  const badHeaders = new LogLimiter(logger, 1, 10_000);
  const readClient = balancers
    ? (socket: Socket, next: () => void): void => {
        if (!fromProxy(balancers, socket.remoteAddress)) return next();
        readProxyHeader(
          socket,
          config.headersTimeoutMs,
          (peer) => {
            if (peer !== undefined) actAs(socket, peer);
            next();
          },
          (reason) => {
            metrics.errors.inc({ code: 'BAD_REQUEST' });
            badHeaders.warn('proxy-protocol', { balancer: socket.remoteAddress }, `connection closed: ${reason} from a balancer of --proxy-protocol`);
            socket.destroy();
          },
        );
      }
    : undefined;
  // Node's TLS socket tells the peer of the TCP handle under it: told the client instead, before its first request.
  if (balancers && secure) server.prependListener('secureConnection', tlsActAs);
  capSockets(server, { budget: sockets, leave, perAddress: config.trustProxy ? undefined : config.maxConnectionsPerAddress + 64, ...(handshakes ? { rate: handshakes } : {}), onRefused, ...(readClient ? { readClient } : {}) });
  // Not per address: its clients are the operators' scrapers and probes, not the public's.
  if (metricsServer) capSockets(metricsServer, { budget: sockets, perAddress: undefined, onRefused });
  /**
   * Said by `listen` only: under `attach` and `handler` the sockets are those of the host's
   * server, which Switchboard does not cap (docs/embedding.md), so neither warning would be true.
   */
  function warnOfOpenFiles(): void {
    if (openFiles !== undefined && maxSockets > openFiles - RESERVED_FILES) {
      logger.warn({ maxSockets, openFiles }, `--max-sockets leaves fewer than ${RESERVED_FILES} of the open-file limit to the store, Redis and logs: they may fail with EMFILE under many connections; raise the limit (ulimit -n) or lower --max-sockets`);
    } else if (maxSockets < config.maxConnections) {
      logger.warn({ maxSockets, openFiles, maxConnections: config.maxConnections }, 'the open-file limit leaves fewer sockets than --max-connections: connections are refused before it is reached; raise the limit (ulimit -n) or lower --max-connections');
    }
  }
  const gateway = new WebSocketGateway(ctx, node);
  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!claim(req)) return false;
    gateway.onUpgrade(req, socket, head);
    return true;
  }
  server.on('upgrade', (req, socket, head) => {
    if (!handleUpgrade(req, socket, head)) socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket as Socket, { metrics, logger }));

  const timers: NodeJS.Timeout[] = [];
  let closing: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  /** The system principal of application code (publish, disconnect...). */
  const appSession = (): Session =>
    new Session(ctx, { id: 'app', principal: APP_PRINCIPAL, transport: 'http', presence: false });

  /** What start-up opens, as its failures name it. */
  const redisAt = config.redisUrl ? ` at ${shownRedisUrl(config.redisUrl)}` : '';
  const storeName = messageStore
    ? `the message store (${store.kind})`
    : store instanceof SqliteStore
      ? `the SQLite store ${store.path}`
      : store.kind === 'redis'
        ? `the Redis store${redisAt}`
        : `the ${store.kind} store`;
  const brokerName = !givenBroker && broker.kind === 'redis' ? `the Redis broker${redisAt}` : `the ${broker.kind} broker`;
  const presenceName = !givenPresence && config.redisUrl ? `the Redis presence store${redisAt}` : 'the presence store';

  function start(): Promise<void> {
    starting ??= (async () => {
      if (metricsServer && config.metricsPort !== undefined) {
        metricsPort = await listenMetrics(metricsServer, config.metricsPort, config.metricsHost);
        logger.info({ port: metricsPort, host: config.metricsHost }, `metrics on http://${config.metricsHost.includes(':') ? `[${config.metricsHost}]` : config.metricsHost}:${metricsPort}/metrics`);
      }
      await opening(`open ${storeName}`, store.init());
      // Before any request: the ids the server derives are the same after a restart and on every node of the store.
      ids.setSecret(await opening(`read the node secret from ${storeName}`, store.nodeSecret()));
      await opening(`open ${brokerName}`, broker.init());
      // Not fatal: without them this node refuses only the orders it hears from now on.
      await hub.recallDisconnects().catch((err: unknown) => logger.warn({ err }, 'could not read the recent disconnect orders'));
      if (presence.init) await opening(`open ${presenceName}`, presence.init());
      if (redisPeers) await opening(`open the budgets shared on Redis${redisAt}`, redisPeers.init());
      if (!presenceKey(config) && config.redisUrl) tickets.setKey(await opening(`read the presence key from Redis${redisAt}`, sharedPresenceKey({ url: config.redisUrl, prefix: config.redisPrefix, replicas: config.redisReplicas, replicaTimeoutMs: config.redisReplicaTimeoutMs, logger })));
      await opening(`create the room ${DEFAULT_ROOM} in ${storeName}`, hub.room(DEFAULT_ROOM, true));
      const retention = { maxEntries: config.retentionCount, maxAgeMs: config.retentionMs };
      timers.push(setInterval(() => void store.trim(retention, Date.now()).catch((err: unknown) => logger.warn({ err }, 'retention failed')), 10_000));
      timers.push(setInterval(() => void hub.presence.tick(), 5_000));
      for (const t of timers) t.unref();
    })();
    return starting;
  }

  /**
   * Takes no new connection. A node on its way out (ConnectionRegistry.leaving) cuts none:
   * node's http.Server#close also closes the keep-alive connections that are between two
   * requests at that instant, and a poller's next request may already be on its way on one (it
   * would see its connection close unanswered, and reconnect). Those connections are served on,
   * their answers closing them, until the drain ends what is left.
   */
  function stopListening(): void {
    if (!server.listening) return;
    if (connections.leaving && server instanceof http.Server) net.Server.prototype.close.call(server);
    else server.close();
  }

  return {
    config,
    http: server,
    hub,
    context: ctx,
    get metricsPort() {
      return metricsPort;
    },
    get routes() {
      return router.routes.map((r) => Object.freeze({ method: r.method, path: `${prefix}${r.path}` }));
    },
    start,
    async listen() {
      warnOfOpenFiles();
      await start();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as AddressInfo).port;
      const scheme = secure ? 'https' : 'http';
      logger.info({ port, host: config.host, store: store.kind, broker: broker.kind, tls: secure !== undefined }, `Switchboard listening on ${scheme}://localhost:${port}${prefix}`);
      return port;
    },
    async takeConnections() {
      warnOfOpenFiles();
      await start();
      // What listening sets up, without a port: node's HTTP servers keep the headers and request
      // deadlines of their connections from their 'listening' event on (and so does ours for
      // HTTP/2 streams, secure-server.ts); a connection emitted before would have none.
      server.emit('listening');
      logger.info({ store: store.kind, broker: broker.kind, tls: secure !== undefined }, 'Switchboard serving the connections handed to it (no port of its own)');
      const counted = server as unknown as { _connections: number };
      return (socket) => {
        // Counted as node counts the connections it accepts (the socket's close uncounts it), so
        // that getConnections() sees it: a node leaving in a rolling restart waits for its
        // keep-alive connections to end (close) instead of cutting a poller's next request.
        counted._connections++;
        (socket as unknown as { _server: unknown })._server = server;
        server.emit('connection', socket);
      };
    },
    attach(target) {
      // Ours first; every request that is not goes to the handlers the server had.
      // An http2 secure server gives HTTP/2 requests node's compatibility objects: served alike.
      const previous = target.listeners('request') as ((req: HttpRequest, res: HttpResponse) => void)[];
      target.removeAllListeners('request');
      target.on('request', (req: HttpRequest, res: HttpResponse) => {
        if (!take(req, res)) for (const listener of previous) listener.call(target, req, res);
      });
      target.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        // Not ours: left to the server's other upgrade handlers; with none, closed (as engine.io does).
        if (!handleUpgrade(req, socket, head) && target.listenerCount('upgrade') === 1) socket.destroy();
      });
    },
    handler(req, res, next) {
      if (take(req, res)) return;
      if (next) next();
      else router.fail(res, new SwitchboardError('NOT_FOUND'));
    },
    handleUpgrade,
    publish(room, message) {
      return appSession().publish(room, { text: message.text, data: message.data, event: message.event, clientId: message.clientId, onBehalfOf: { member: message.member, name: message.name } });
    },
    history(room, o = {}) {
      return appSession().history(room, o.before, o.limit ?? 50);
    },
    async presence(room) {
      return (await appSession().presence(room)).members;
    },
    async createRoom(room) {
      return (await appSession().createRoom(room)).info;
    },
    disconnect(member, room) {
      return appSession().disconnectMember(member, room);
    },
    stopAccepting() {
      connections.leaving = true;
      stopListening();
    },
    close() {
      closing ??= (async () => {
        const started = Date.now();
        logger.info({ connections: connections.size }, 'shutting down');
        for (const t of timers) clearInterval(t);
        const deadline = started + config.shutdownTimeoutMs;
        // Readiness fails first while the node still serves, so a load balancer's health check
        // stops sending clients here before the open connections are told to go elsewhere.
        connections.draining = true;
        const drainDelay = Math.min(config.drainDelayMs, config.shutdownTimeoutMs);
        if (drainDelay > 0) {
          logger.info({ ms: drainDelay }, 'draining: /readyz answers 503');
          await new Promise((r) => setTimeout(r, drainDelay));
        }
        stopListening();
        // HTTP/2 connections are told to end too (GOAWAY), once their streams are done.
        secure?.closeSessions();
        connections.shutdownAll();
        while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        if (connections.size > 0) {
          logger.warn({ connections: connections.size }, 'shutdown deadline reached: cutting connections');
          connections.destroyAll();
        }
        // A node replaced in a rolling restart lets its keep-alive clients' next requests come,
        // a little while: each is answered, closing its connection, so pollers move on without
        // an error. Cut at once, the connections between two requests would close with the next
        // request of a poller on its way (it reconnects, with its back-off).
        if (connections.leaving && server instanceof http.Server) await connectionsEnded(server, Math.min(deadline, Date.now() + LEAVING_GRACE_MS));
        gateway.close();
        connections.close();
        if (secure) secure.destroyAll();
        else if (server instanceof http.Server) {
          server.closeAllConnections();
          // What stopListening left to do on a leaving node: node's own close stops its connection-checking timer.
          if (connections.leaving) server.close();
        }
        if (metricsServer?.listening) {
          metricsServer.close();
          metricsServer.closeAllConnections();
        }
        hub.close();
        headroom?.stop();
        await webhooks?.close();
        await broker.close();
        await redisPeers?.close();
        await presence.close();
        await store.close();
        logger.info({ ms: Date.now() - started }, 'shut down');
      })();
      return closing;
    },
  };
}

/** How long a node replaced in a rolling restart waits, at most, for its keep-alive connections to end (see close()). */
const LEAVING_GRACE_MS = 2500;

/**
 * The connections `server` holds open, as node counts them (those it accepted, and those handed
 * to it: takeConnections counts them alike); 0 when node cannot say.
 */
export function openConnections(server: Pick<net.Server, 'getConnections'>): Promise<number> {
  return new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
}

/** Resolves once `server` has no connection left, or at `until` (epoch ms). */
async function connectionsEnded(server: http.Server, until: number): Promise<void> {
  while (Date.now() < until && (await openConnections(server)) > 0) await new Promise((r) => setTimeout(r, 20));
}
