// Switchboard as `npm start` runs it: the built JavaScript (dist/, `npm run build` first), not
// TypeScript through tsx, whose transforms (a `__name` call per closure made) cost CPU per request.
// Same settings as bench/servers/switchboard-server.ts.
import { createSwitchboard } from '../../dist/src/server/server.js';
import { answerStats } from './built-ipc.mjs';

const server = createSwitchboard({
  port: 0,
  host: '127.0.0.1',
  store: process.env.BENCH_STORE ?? 'memory',
  dataDir: process.env.DATA_DIR ?? './data-bench',
  ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL, redisPrefix: process.env.REDIS_PREFIX ?? 'sbbench:', redisReplicas: Number(process.env.REDIS_REPLICAS ?? 0) } : {}),
  logLevel: 'silent',
  rateLimitPerSecond: 1_000_000,
  rateLimitBurst: 1_000_000,
  typingRatePerSecond: 1_000_000,
  subscribeRatePerSecond: 1_000_000,
  createRatePerSecond: 1_000_000,
  connectRatePerSecond: 1_000_000,
  maxConnectionsPerAddress: 20_000,
  maxConnectionsPerMember: 20_000,
  maxConnections: 15_000,
  retentionCount: 1_000_000,
  presenceGraceMs: 60_000,
});
const port = await server.listen();
await server.hub.createRoom('bench');
answerStats();
process.send?.({ port });
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
