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
    .addOption(new Option('--rate-limit <perSecond>', 'publishes per second per member, or per address for guests (env RATE_LIMIT)').default(env.rateLimitPerSecond).argParser(int))
    .addOption(new Option('--rate-burst <n>', 'publishes allowed in a burst (env RATE_BURST)').default(env.rateLimitBurst).argParser(int))
    .addOption(new Option('--max-buffered-bytes <n>', 'unread bytes a client may leave before it is dropped as too slow (env MAX_BUFFERED_BYTES)').default(env.maxBufferedBytes).argParser(int))
    .addOption(new Option('--origins <list>', "allowed Origins (scheme://host:port), comma-separated; '*' for any, never with credentials (env ORIGINS)").default(env.origins).argParser(list))
    .addOption(new Option('--jwt-secret <secret>', 'HS256 secret of user tokens: turns authentication on (env JWT_SECRET, better: stays out of ps)'))
    .addOption(new Option('--jwt-public-key <file>', 'PEM public key of user tokens, RS256 / ES256 / EdDSA (env JWT_PUBLIC_KEY)'))
    .addOption(new Option('--jwks <file>', 'JSON Web Key Set file of user tokens (env JWKS)'))
    .addOption(new Option('--jwt-issuer <iss>', 'required "iss" of tokens (env JWT_ISSUER)'))
    .addOption(new Option('--jwt-audience <aud>', 'required "aud" of tokens (env JWT_AUDIENCE)'))
    .addOption(new Option('--api-key <key>', 'key of the server API for backends: every right (env API_KEY)'))
    .addOption(new Option('--guests <what>', 'with a token key: what clients without a token may do in the guest rooms (env GUESTS)').choices(['none', 'read', 'write']).default(env.guests))
    .addOption(new Option('--guest-rooms <list>', 'rooms (or patterns with *) open to guests, comma-separated (env GUEST_ROOMS)').default(env.guestRooms).argParser(list))
    .addOption(new Option('--dev-login', 'DEVELOPMENT ONLY: POST /api/dev/login issues a token for any name (env DEV_LOGIN=true)').default(env.devLogin))
    .addOption(new Option('--trust-proxy', 'take the client address from the last X-Forwarded-For hop (env TRUST_PROXY=true)').default(env.trustProxy))
    .addOption(new Option('--webhook-url <url>', 'POST signed webhooks here (env WEBHOOK_URL)'))
    .addOption(new Option('--webhook-secret <secret>', 'HMAC-SHA256 key of the webhook signature (env WEBHOOK_SECRET)'))
    .addOption(new Option('--webhook-events <list>', 'events sent, comma-separated (env WEBHOOK_EVENTS)').default(env.webhookEvents).argParser(list))
    .addOption(new Option('--typing-rate <perSecond>', 'typing notices per second per member or guest address (env TYPING_RATE)').default(env.typingRatePerSecond).argParser(int))
    .addOption(new Option('--subscribe-rate <perSecond>', 'subscribes per second per member or guest address (env SUBSCRIBE_RATE)').default(env.subscribeRatePerSecond).argParser(int))
    .addOption(new Option('--create-rate <perSecond>', 'rooms created per second per member or guest address (env CREATE_RATE)').default(env.createRatePerSecond).argParser(int))
    .addOption(new Option('--connect-rate <perSecond>', 'new connections per second per address (env CONNECT_RATE)').default(env.connectRatePerSecond).argParser(int))
    .addOption(new Option('--max-connections-per-address <n>', 'open connections per address (env MAX_CONNECTIONS_PER_ADDRESS)').default(env.maxConnectionsPerAddress).argParser(int))
    .addOption(new Option('--max-connections-per-member <n>', 'open connections per member (env MAX_CONNECTIONS_PER_MEMBER)').default(env.maxConnectionsPerMember).argParser(int))
    .addOption(new Option('--max-subscriptions <n>', 'rooms one connection may subscribe to (env MAX_SUBSCRIPTIONS)').default(env.maxSubscriptionsPerConnection).argParser(int))
    .addOption(new Option('--max-answer-bytes <n>', 'bytes of entries in one history or poll answer (env MAX_ANSWER_BYTES)').default(env.maxAnswerBytes).argParser(int))
    .addOption(new Option('--write-timeout-ms <ms>', 'a client that takes nothing it was sent for this long is dropped (env WRITE_TIMEOUT_MS)').default(env.writeTimeoutMs).argParser(int))
    .addOption(new Option('--headers-timeout-ms <ms>', 'time to send request headers (env HEADERS_TIMEOUT_MS)').default(env.headersTimeoutMs).argParser(int))
    .addOption(new Option('--request-timeout-ms <ms>', 'time to send a whole request (env REQUEST_TIMEOUT_MS)').default(env.requestTimeoutMs).argParser(int))
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
        jwtSecret: (o.jwtSecret as string | undefined) ?? env.jwtSecret,
        jwtPublicKey: (o.jwtPublicKey as string | undefined) ?? env.jwtPublicKey,
        jwks: (o.jwks as string | undefined) ?? env.jwks,
        jwtIssuer: (o.jwtIssuer as string | undefined) ?? env.jwtIssuer,
        jwtAudience: (o.jwtAudience as string | undefined) ?? env.jwtAudience,
        apiKey: (o.apiKey as string | undefined) ?? env.apiKey,
        guests: o.guests as ServerConfig['guests'],
        guestRooms: o.guestRooms as string[],
        devLogin: o.devLogin as boolean,
        trustProxy: o.trustProxy as boolean,
        webhookUrl: (o.webhookUrl as string | undefined) ?? env.webhookUrl,
        webhookSecret: (o.webhookSecret as string | undefined) ?? env.webhookSecret,
        webhookEvents: o.webhookEvents as ServerConfig['webhookEvents'],
        typingRatePerSecond: o.typingRate as number,
        subscribeRatePerSecond: o.subscribeRate as number,
        createRatePerSecond: o.createRate as number,
        connectRatePerSecond: o.connectRate as number,
        maxConnectionsPerAddress: o.maxConnectionsPerAddress as number,
        maxConnectionsPerMember: o.maxConnectionsPerMember as number,
        maxSubscriptionsPerConnection: o.maxSubscriptions as number,
        maxAnswerBytes: o.maxAnswerBytes as number,
        writeTimeoutMs: o.writeTimeoutMs as number,
        headersTimeoutMs: o.headersTimeoutMs as number,
        requestTimeoutMs: o.requestTimeoutMs as number,
        seedRoutes: env.seedRoutes && (o.seedRoutes as boolean),
        presenceEntries: env.presenceEntries && (o.presenceEntries as boolean),
        shutdownTimeoutMs: o.shutdownTimeoutMs as number,
        drainDelayMs: o.drainDelayMs as number,
        logLevel: o.logLevel as string,
        logJson: o.logJson as boolean,
      };
      let server;
      try {
        server = createSwitchboard(config);
      } catch (err) {
        process.stderr.write(`switchboard: ${(err as Error).message}\n`);
        process.exit(2);
      }
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
