/**
 * The primary process of `switchboard serve --workers N` (N > 1). It holds no client connection
 * and loads neither the server nor the web app: it forks the workers (which share its port
 * through node:cluster, or, with `--worker-accept address`, are handed its connections by
 * address: address-acceptor.ts), restarts them, relays their broker messages to each other, holds the
 * presence store they share, with `--worker-appends primary` appends their entries to the SQLite
 * file they share (the one process that does: see SqliteStoreOptions.appendVia), and aggregates
 * their metrics. Kept small
 * on purpose: its memory is the base cost of every deployment with workers.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { ServerConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { MemoryPresenceStore } from '../presence/memory-presence-store.js';
import type { SqliteStore } from '../store/sqlite-store.js';
import { DEFAULT_V8_FLAGS, SMALL_HEAP_V8_FLAGS, missingFlags } from '../v8-flags.js';
import { handleShutdownSignals } from '../shutdown-signals.js';
import { WORKER_ENV, nodePort, primaryAppends, type ToWorker } from './ipc-protocol.js';
import { BatchingPort, batchOf } from './batching-port.js';
import { PrimaryServices } from './primary-services.js';
import { WorkerPool, WorkerStartError } from './worker-pool.js';
import { AddressAcceptor } from './address-acceptor.js';

/** Runs the primary until SIGTERM or SIGINT (exit 0 once every worker drained), SIGHUP replaces the workers (WorkerPool.roll). */
export async function runPrimary(config: ServerConfig): Promise<void> {
  const logger = createLogger(config.logLevel, config.logJson ? false : undefined).child({ role: 'primary' });
  let aggregator: { clusterMetrics(): Promise<string> } | undefined;
  /** Gathers of every worker's metrics (PrimaryServices shares one among concurrent scrapes). */
  let gathers = 0;
  let lastDropLog = 0;
  // The workers' appends, written here with --worker-appends primary; SQLite loaded only then (memory
  // the primary does not otherwise hold), its tail cache as small as it goes (the primary reads nothing).
  const store = primaryAppends(config) ? new (await import('../store/sqlite-store.js')).SqliteStore({ dataDir: config.dataDir, cachedRooms: 1, cachedEntries: 1 }) : undefined;
  if (store) {
    try {
      await store.init();
    } catch (err) {
      logger.error({ err: (err as Error).message }, `cannot open the SQLite store ${store.path}`);
      process.exit(1);
    }
  }
  const services: PrimaryServices = new PrimaryServices({
    onRelayDrop(worker, messages) {
      // At most one line per 10 s: a stuck worker drops on every turn.
      if (Date.now() - lastDropLog < 10_000) return;
      lastDropLog = Date.now();
      logger.warn({ worker: `w${worker}`, messages, droppedSinceStart: services.relay.dropped }, 'a worker does not read its IPC channel: messages not relayed to it (its hubs repair gaps from the store)');
    },
    presence: new MemoryPresenceStore(),
    ...(store ? { store } : {}),
    // Without a secret to derive it from, one random key for every worker, so each accepts the others' presence tickets.
    presenceKey: randomBytes(32).toString('base64'),
    async metrics(): Promise<string> {
      // Loaded on the first scrape only: the primary stays small until metrics are asked for.
      if (!aggregator) {
        const { AggregatorRegistry } = await import('prom-client');
        aggregator = new AggregatorRegistry();
      }
      const gather = ++gathers;
      return `${await aggregator.clusterMetrics()}\n${gathersMetric(gather)}${config.sharedLimits ? spendsDroppedMetric(services.spendsDropped) : ''}${store ? commitsMetric(store) : ''}${acceptor ? refusedMetric(acceptor.refused) : ''}`;
    },
  });
  // --worker-accept, in place of node's NODE_CLUSTER_SCHED_POLICY: set before setupPrimary and the first fork (node:cluster freezes it at whichever comes first).
  cluster.schedulingPolicy = config.workerAccept === 'shared' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  // The workers' V8 flags (v8-flags.ts), however the primary was started; --small-heap's instead of the default ones.
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...missingFlags(config.smallHeap ? SMALL_HEAP_V8_FLAGS : DEFAULT_V8_FLAGS, process.execArgv, process.env.NODE_OPTIONS)] });
  cluster.on('fork', (worker) => services.attach(worker.id, new BatchingPort(nodePort<ToWorker>(worker), batchOf)));
  cluster.on('exit', (worker) => services.detach(worker.id));
  cluster.on('message', (worker, m: unknown) => services.receive(worker.id, m));

  // --worker-accept address: the primary listens, and hands each connection to the worker of its address.
  const acceptor = config.workerAccept === 'address' ? new AddressAcceptor({ slots: config.workers, acceptor: (slot) => pool.acceptor(slot), logger }) : undefined;
  const pool: WorkerPool = new WorkerPool({
    count: config.workers,
    fork: () => cluster.fork({ [WORKER_ENV]: '1' }),
    logger,
    drainTimeoutMs: config.shutdownTimeoutMs + 5000,
    readyTimeoutMs: 60_000,
    onCrashLoop: () => void shutdown('crash loop', 1),
    ...(acceptor ? { onAcceptorsChanged: () => acceptor.reroute() } : {}),
  });

  let stopping: Promise<void> | undefined;
  function shutdown(why: string, code: number): Promise<void> {
    stopping ??= (async () => {
      logger.info({ why }, 'stopping: draining every worker');
      acceptor?.close();
      await pool.stop();
      logger.info('every worker exited');
      // After the workers: their last appends (a drain waits for them) are committed by now.
      await store?.close();
      process.exit(code);
    })();
    return stopping;
  }
  // Ctrl-C reaches the primary twice under npm (from the terminal, and forwarded by npm): the repeat is not fatal.
  handleShutdownSignals({ logger, shutdown: (signal) => void shutdown(signal, 0), exit: (code) => process.exit(code) });
  let started = false;
  // SIGHUP replaces the workers: new ones first, then the old ones drained one at a time (ignored until they all started, and while stopping).
  process.on('SIGHUP', () => {
    if (!started || stopping) return;
    logger.info('SIGHUP: rolling restart');
    void pool.roll();
  });

  try {
    await pool.start();
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'a worker could not start');
    // A configuration the worker refused (exit 2, said on stderr) ends serve as it would without workers.
    await shutdown('start failed', err instanceof WorkerStartError && err.exitCode === 2 ? 2 : 1);
    return;
  }
  if (acceptor) {
    try {
      pool.port = await acceptor.listen(config.port, config.host, config.listenBacklog);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`switchboard: cannot start: ${e.code === 'EADDRINUSE' ? `port ${config.port} is in use` : e.message}\n`);
      await shutdown('listen failed', 1);
      return;
    }
  }
  started = true;
  const scheme = config.tlsCert ? 'https' : 'http';
  logger.info({ port: pool.port, workers: config.workers, pids: pool.workers.map((w) => w.process.pid) }, `Switchboard listening on ${scheme}://localhost:${pool.port} with ${config.workers} workers`);
  setTimeout(() => logger.debug({ rssBytes: process.memoryUsage.rss() }, 'primary memory'), 1000).unref();
}

/** The primary's group commits of the workers' appends (see SqliteStore.commitStats). */
function commitsMetric(store: SqliteStore): string {
  const { commits, items } = store.commitStats;
  return (
    `# HELP switchboard_primary_commits_total Transactions in which the primary stored the workers' appends (one sync each)\n# TYPE switchboard_primary_commits_total counter\nswitchboard_primary_commits_total ${commits}\n` +
    `# HELP switchboard_primary_appends_total Entries the primary stored for the workers (appends asked, failed ones included)\n# TYPE switchboard_primary_appends_total counter\nswitchboard_primary_appends_total ${items}\n`
  );
}

/** With `--worker-accept address`: the connections the primary closed without handing them to a worker. */
function refusedMetric(refused: number): string {
  return `# HELP switchboard_primary_refused_connections_total Connections the primary closed unhanded (--worker-accept address): no worker took them, or too many waited (of all, or of their address)\n# TYPE switchboard_primary_refused_connections_total counter\nswitchboard_primary_refused_connections_total ${refused}\n`;
}

/** With shared limits: the spends the primary did not pass to a worker whose IPC channel was full (PrimaryServices). */
function spendsDroppedMetric(dropped: number): string {
  return `# HELP switchboard_primary_spends_dropped_total Budget spends of a worker's clients not passed to another worker whose IPC channel was full (its budgets a little looser for a moment)\n# TYPE switchboard_primary_spends_dropped_total counter\nswitchboard_primary_spends_dropped_total ${dropped}\n`;
}

/** The primary's first metric, after the workers' (it has no registry: prom-client loads on the first scrape only). */
function gathersMetric(n: number): string {
  return `# HELP switchboard_metrics_gathers_total Gathers of every worker's metrics by the primary (concurrent scrapes share one)\n# TYPE switchboard_metrics_gathers_total counter\nswitchboard_metrics_gathers_total ${n}\n`;
}
