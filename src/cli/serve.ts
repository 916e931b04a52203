import { Command, InvalidArgumentError, Option } from 'commander';
import { configFromEnv, type ServerConfig } from '../server/config.js';
import { createSwitchboard } from '../server/server.js';

/** `switchboard serve`: every server option as a flag; the environment gives the defaults. */
export function serveCommand(): Command {
  const env = configFromEnv();
  const int = (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${v}`);
    return n;
  };
  const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
  return new Command('serve')
    .description('run the Switchboard server')
    .addOption(new Option('-p, --port <port>', 'TCP port (env PORT)').default(env.port).argParser(int))
    .addOption(new Option('-H, --host <host>', 'interface to bind (env HOST)').default(env.host))
    .addOption(new Option('--store <kind>', 'message store (env STORE)').choices(['memory', 'sqlite', 'redis']).default(env.store))
    .addOption(new Option('--data-dir <dir>', 'SQLite folder (env DATA_DIR)').default(env.dataDir))
    .addOption(new Option('--redis <url>', 'Redis URL: Redis store and broker, for several nodes (env REDIS_URL)'))
    .addOption(new Option('--redis-prefix <prefix>', 'prefix of every Redis key (env REDIS_PREFIX)').default(env.redisPrefix))
    .addOption(new Option('--max-message-bytes <n>', 'largest message in bytes (env MAX_MESSAGE_BYTES)').default(env.maxMessageBytes).argParser(int))
    .addOption(new Option('--retention-count <n>', 'entries kept per room (env RETENTION_COUNT)').default(env.retentionCount).argParser(int))
    .addOption(new Option('--retention-ms <ms>', 'entries older than this are removed (env RETENTION_MS)').default(env.retentionMs).argParser(int))
    .addOption(new Option('--heartbeat-ms <ms>', 'WebSocket ping interval; a missed pong drops the peer (env HEARTBEAT_MS)').default(env.heartbeatMs).argParser(int))
    .addOption(new Option('--sse-keepalive-ms <ms>', 'SSE keepalive comment interval (env SSE_KEEPALIVE_MS)').default(env.sseKeepaliveMs).argParser(int))
    .addOption(new Option('--long-poll-timeout-ms <ms>', 'how long a long poll is held (env LONG_POLL_TIMEOUT_MS)').default(env.longPollTimeoutMs).argParser(int))
    .addOption(new Option('--max-connections <n>', 'open WebSocket + SSE + long-poll connections allowed (env MAX_CONNECTIONS)').default(env.maxConnections).argParser(int))
    .addOption(new Option('--max-rooms <n>', 'rooms the server may hold (env MAX_ROOMS)').default(env.maxRooms).argParser(int))
    .addOption(new Option('--rate-limit <perSecond>', 'publishes per second per connection (env RATE_LIMIT)').default(env.rateLimitPerSecond).argParser(int))
    .addOption(new Option('--rate-burst <n>', 'publishes allowed in a burst (env RATE_BURST)').default(env.rateLimitBurst).argParser(int))
    .addOption(new Option('--max-buffered-bytes <n>', 'unread bytes a client may leave before it is dropped as too slow (env MAX_BUFFERED_BYTES)').default(env.maxBufferedBytes).argParser(int))
    .addOption(new Option('--origins <list>', "allowed Origins, comma-separated; '*' for any (env ORIGINS)").default(env.origins).argParser(list))
    .addOption(new Option('--tokens <list>', 'bearer tokens the native API accepts, comma-separated; none = open (env TOKENS)').default(env.tokens).argParser(list))
    .addOption(new Option('--no-seed-routes', "do not serve the lecture's /poll, /longpoll, /subscribe, /update and WebSocket at / (env SEED_ROUTES=false)"))
    .addOption(new Option('--no-presence-entries', 'keep joins and leaves out of the room log: presence notices only, for big rooms (env PRESENCE_ENTRIES=false)'))
    .addOption(new Option('--shutdown-timeout-ms <ms>', 'graceful shutdown deadline (env SHUTDOWN_TIMEOUT_MS)').default(env.shutdownTimeoutMs).argParser(int))
    .addOption(new Option('--drain-delay-ms <ms>', 'on SIGTERM, /readyz answers 503 this long before connections are closed (env DRAIN_DELAY_MS)').default(env.drainDelayMs).argParser(int))
    .addOption(new Option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env LOG_LEVEL)').default(env.logLevel))
    .addOption(new Option('--log-json', 'JSON logs even on a terminal (env LOG_FORMAT=json)').default(env.logJson))
    .action(async (o: Record<string, unknown>) => {
      const redisUrl = (o.redis as string | undefined) ?? env.redisUrl;
      const config: Partial<ServerConfig> = {
        port: o.port as number,
        host: o.host as string,
        store: redisUrl && o.store === env.store && process.env.STORE === undefined ? 'redis' : (o.store as ServerConfig['store']),
        dataDir: o.dataDir as string,
        redisUrl,
        redisPrefix: o.redisPrefix as string,
        maxMessageBytes: o.maxMessageBytes as number,
        retentionCount: o.retentionCount as number,
        retentionMs: o.retentionMs as number,
        heartbeatMs: o.heartbeatMs as number,
        sseKeepaliveMs: o.sseKeepaliveMs as number,
        longPollTimeoutMs: o.longPollTimeoutMs as number,
        maxConnections: o.maxConnections as number,
        maxRooms: o.maxRooms as number,
        rateLimitPerSecond: o.rateLimit as number,
        rateLimitBurst: o.rateBurst as number,
        maxBufferedBytes: o.maxBufferedBytes as number,
        origins: o.origins as string[],
        tokens: o.tokens as string[],
        seedRoutes: env.seedRoutes && (o.seedRoutes as boolean),
        presenceEntries: env.presenceEntries && (o.presenceEntries as boolean),
        shutdownTimeoutMs: o.shutdownTimeoutMs as number,
        drainDelayMs: o.drainDelayMs as number,
        logLevel: o.logLevel as string,
        logJson: o.logJson as boolean,
      };
      const server = createSwitchboard(config);
      try {
        await server.listen();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        process.stderr.write(`switchboard: cannot start: ${e.code === 'EADDRINUSE' ? `port ${config.port} is in use` : e.message}\n`);
        process.exit(1);
      }
      const stop = (signal: string): void => {
        server.context.logger.info({ signal }, 'signal received');
        const force = setTimeout(() => process.exit(1), (config.shutdownTimeoutMs ?? 5000) + 5000);
        force.unref();
        void server.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
