// The options of the built Switchboard that bench/costs runs (switchboard-built-server.mjs and
// switchboard-held-poll-server.mjs): the same settings as bench/servers/switchboard-server.ts, the
// budgets and caps out of the way of a benchmark's one address, the store from BENCH_STORE.
export function builtBenchOptions() {
  return {
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
  };
}
