/**
 * A worker process of `switchboard serve --workers N`: a full node, whose broker and presence
 * store are the primary's (over IPC) when there is no Redis, as are, with `--worker-appends
 * primary`, the appends to the SQLite file (the primary its one writer of entries), and which shares the primary's
 * presence-ticket key and rate budgets, gets a node id of its own, answers `/metrics` with every
 * worker's metrics, and drains when the primary says so.
 */
import { Socket } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import { IpcBroker } from '../broker/ipc-broker.js';
import type { ServerConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { IpcPresenceStore } from '../presence/ipc-presence-store.js';
import { openConnections, type Switchboard, type SwitchboardOptions } from '../server.js';
import type { AppendResult } from '../store/message-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { BatchingPort, batchOf } from './batching-port.js';
import { isHandedConnection } from './address-acceptor.js';
import { nodePort, primaryAppends, type ToPrimary, type WorkerIdentity } from './ipc-protocol.js';
import { PrimaryClient } from './primary-client.js';
import { SharedLimits } from './shared-limits.js';

/** How long a worker waits for its identity, and for the aggregated metrics, from the primary. */
const HELLO_TIMEOUT_MS = 10_000;
const METRICS_TIMEOUT_MS = 10_000;
/**
 * How long a worker waits for the primary to store an entry (a commit waits for SQLite's write
 * lock up to 5 s there): past it the publish fails with STORE_UNAVAILABLE, never acknowledged. It
 * may still be stored: a client that sends it again with its clientId gets the stored one.
 */
const APPEND_TIMEOUT_MS = 10_000;

/** This process as a worker: what its server is built with, and how it reports to the primary. */
export interface WorkerRole {
  /** Options to build the server with, over the configuration. */
  options: SwitchboardOptions;
  /** Says the server listens (on `port`): the primary sends it connections from now on. */
  ready(server: Switchboard, port: number): void;
  /** Sets what to do when the primary orders a drain (a rolling restart, its shutdown). */
  onDrain(handler: () => void): void;
  /** Sets what to do when the primary says to take no new connection (a rolling restart). */
  onUnlisten(handler: () => void): void;
  /**
   * `--worker-accept address`: starts the server without a port of its own and serves the
   * connections the primary hands it (the primary listens: address-acceptor.ts).
   */
  serveHanded(server: Switchboard): Promise<void>;
}

/** Asks the primary who this worker is; resolves with what to build the server with. Rejects when the primary does not answer. */
export async function joinPrimary(config: ServerConfig): Promise<WorkerRole> {
  const primary = new PrimaryClient(new BatchingPort(nodePort<ToPrimary>(process), batchOf));
  const identity = await primary.request<WorkerIdentity>({ op: 'hello' }, HELLO_TIMEOUT_MS);
  // prom-client answers the primary's requests for this worker's metrics from now on (its
  // constructor listens), with nothing until the server's registry is set: a worker still
  // starting does not hold a scrape up.
  new AggregatorRegistry();
  // A hang-up of the terminal reaches every process of the group: the primary rolls, workers stay.
  process.on('SIGHUP', () => {});
  const options: SwitchboardOptions = {
    node: identity.node,
    // Every line this worker logs says which worker it is.
    logger: createLogger(config.logLevel, config.logJson ? false : undefined).child({ node: identity.node }),
    presenceKey: Buffer.from(identity.presenceKey, 'base64'),
    metricsText: () => primary.request<string>({ op: 'metrics' }, METRICS_TIMEOUT_MS),
    // One budget and one cap per client for the machine, not one per worker its connections land
    // on (with Redis, for the deployment: shared over Redis, each worker a node, and these unused).
    limitPeers: new SharedLimits(primary),
    // With Redis, each worker is one more node of the cluster (Redis broker and presence, as ever).
    ...(config.redisUrl ? {} : { broker: new IpcBroker(primary), presenceStore: new IpcPresenceStore(primary) }),
    // --worker-appends primary: the primary writes the appends to the SQLite file every worker
    // shares (workers/primary.ts); workers that each commit their own wait for each other's write lock, asleep.
    ...(primaryAppends(config)
      ? { messageStore: new SqliteStore({ dataDir: config.dataDir, appendVia: (draft) => primary.request<AppendResult>({ op: 'append', draft }, APPEND_TIMEOUT_MS) }) }
      : {}),
  };
  return {
    options,
    ready(server, port) {
      AggregatorRegistry.setRegistries([server.context.metrics.registry]);
      primary.countWith(async () => ({ connections: await openConnections(server.http), clients: server.context.connections.size }));
      primary.tell({ sb: 1, t: 'ready', port });
    },
    onDrain(handler) {
      primary.drainWith(handler);
    },
    async serveHanded(server) {
      const take = await server.takeConnections();
      process.on('message', (m: unknown, handle: unknown) => {
        if (isHandedConnection(m) && handle instanceof Socket) take(handle);
      });
    },
    onUnlisten(handler) {
      primary.unlistenWith(() => {
        handler();
        // The primary drains the old worker only once this one has stopped taking connections.
        primary.tell({ sb: 1, t: 'unlistened' });
        primary.flush();
      });
    },
  };
}
