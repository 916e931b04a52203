import { existsSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sirv from 'sirv';
import { DEFAULT_ROOM } from '../protocol/constants.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { Broker } from './broker/broker.js';
import { createBroker } from './broker/create-broker.js';
import { DEFAULT_CONFIG, type ServerConfig } from './config.js';
import { ConnectionRegistry } from './connection-registry.js';
import type { ServerContext } from './context.js';
import { sendJson } from './http-util.js';
import { Hub } from './hub.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { MemoryPresenceStore } from './presence/memory-presence-store.js';
import type { PresenceStore } from './presence/presence-store.js';
import { RedisPresenceStore } from './presence/redis-presence-store.js';
import { Router } from './router.js';
import { createStore } from './store/create-store.js';
import type { MessageStore } from './store/message-store.js';
import { registerHttpApi } from './transports/http-api.js';
import { registerPolling } from './transports/polling.js';
import { registerSeedRoutes } from './transports/seed-routes.js';
import { registerSse } from './transports/sse.js';
import { WebSocketGateway } from './transports/websocket.js';

export interface SwitchboardOptions extends Partial<ServerConfig> {
  /** A logger to use instead of one made from `logLevel`. */
  logger?: Logger;
  /** A store to use instead of the one `store` names (tests inject their own). */
  messageStore?: MessageStore;
  /** A broker to use instead of the one `redisUrl` implies. */
  broker?: Broker;
  /** A presence store to use instead of the one `redisUrl` implies. */
  presenceStore?: PresenceStore;
}

/** A running (or ready to run) Switchboard server. */
export interface Switchboard {
  readonly config: ServerConfig;
  readonly http: http.Server;
  readonly hub: Hub;
  readonly context: ServerContext;
  /** Opens the store and broker, then listens. Resolves with the bound port. */
  listen(): Promise<number>;
  /** Graceful shutdown (see docs/protocol.md, "Shutdown"): bounded by `shutdownTimeoutMs`. */
  close(): Promise<void>;
}

/**
 * The composition root: builds the store, the broker, the hub and every transport, and mounts
 * them on one HTTP server (one port for all four transports and the web app).
 */
export function createSwitchboard(options: SwitchboardOptions = {}): Switchboard {
  const { logger: givenLogger, messageStore, broker: givenBroker, presenceStore: givenPresence, ...overrides } = options;
  const config: ServerConfig = { ...DEFAULT_CONFIG, ...overrides };
  const logger = givenLogger ?? createLogger(config.logLevel, config.logJson ? false : undefined);
  const metrics = new Metrics();
  const store = messageStore ?? createStore({ kind: config.store, dataDir: config.dataDir, ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), redisPrefix: config.redisPrefix });
  const broker = givenBroker ?? createBroker({ kind: config.redisUrl ? 'redis' : 'local', ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}), redisPrefix: config.redisPrefix });
  const presence: PresenceStore = givenPresence ?? (config.redisUrl ? new RedisPresenceStore(config.redisUrl, config.redisPrefix) : new MemoryPresenceStore());
  const hub = new Hub({ store, broker, presence, logger, metrics, maxRooms: config.maxRooms, presenceGraceMs: config.presenceGraceMs, presenceEntries: config.presenceEntries, pollPresenceTtlMs: Math.max(35_000, config.longPollTimeoutMs + 10_000), typingTtlMs: 5000 });
  const connections = new ConnectionRegistry(config.maxConnections, metrics);
  const ctx: ServerContext = { config, hub, logger, metrics, connections };

  const staticFiles = existsSync(config.staticDir) ? sirv(config.staticDir, { etag: true, gzip: true, single: false }) : undefined;
  const router = new Router(ctx, (req, res) => notFound(req, res));
  function notFound(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const err = router.hasPath(path) ? new SwitchboardError('METHOD_NOT_ALLOWED', req.method) : new SwitchboardError('NOT_FOUND', path);
    if (staticFiles && (req.method === 'GET' || req.method === 'HEAD') && err.code === 'NOT_FOUND') {
      staticFiles(req, res, () => router.fail(res, err));
      return;
    }
    router.fail(res, err);
  }

  registerHttpApi(router, ctx);
  registerPolling(router, ctx);
  registerSse(router, ctx);
  if (config.seedRoutes) registerSeedRoutes(router, ctx);
  router.open('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  router.open('GET', '/readyz', async (_req, res) => {
    const [storeOk, brokerOk] = await Promise.all([store.ping(), broker.ping()]);
    const ready = storeOk && brokerOk && !connections.draining;
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', store: storeOk, broker: brokerOk, draining: connections.draining });
  });
  router.open('GET', '/metrics', async (_req, res) => {
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(await metrics.registry.metrics());
  });

  // requireHostHeader off: the lecture's raw `nc` handshake sends no Host header.
  const server = http.createServer({ requireHostHeader: false, keepAliveTimeout: 65_000 }, (req, res) => router.handle(req, res));
  const gateway = new WebSocketGateway(ctx);
  server.on('upgrade', (req, socket, head) => gateway.onUpgrade(req, socket, head));
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    logger.debug({ err: err.message }, 'client error');
  });

  const timers: NodeJS.Timeout[] = [];
  let closing: Promise<void> | undefined;

  return {
    config,
    http: server,
    hub,
    context: ctx,
    async listen() {
      await store.init();
      await broker.init();
      await presence.init?.();
      await hub.room(DEFAULT_ROOM, true);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const retention = { maxEntries: config.retentionCount, maxAgeMs: config.retentionMs };
      timers.push(setInterval(() => void store.trim(retention, Date.now()).catch((err: unknown) => logger.warn({ err }, 'retention failed')), 10_000));
      timers.push(setInterval(() => void hub.presence.tick(), 5_000));
      for (const t of timers) t.unref();
      const port = (server.address() as AddressInfo).port;
      logger.info({ port, host: config.host, store: store.kind, broker: broker.kind }, `Switchboard listening on http://localhost:${port}`);
      return port;
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
        server.close();
        connections.shutdownAll();
        while (connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        if (connections.size > 0) {
          logger.warn({ connections: connections.size }, 'shutdown deadline reached: cutting connections');
          connections.destroyAll();
        }
        gateway.close();
        server.closeAllConnections();
        hub.close();
        await broker.close();
        await presence.close();
        await store.close();
        logger.info({ ms: Date.now() - started }, 'shut down');
      })();
      return closing;
    },
  };
}
