import { randomBytes } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Logger } from '../logger.js';
import { createRedisClient, waitUntilReady } from '../redis-connection.js';
import { Replication, probeKey } from '../store/replication-barrier.js';

/** Where the presence key of a cluster of nodes is kept, and how surely. */
export interface SharedPresenceKeyOptions {
  url: string;
  prefix: string;
  /** With `--redis-replicas`: the key is taken only once this many replicas have it (WAIT). */
  replicas?: number;
  /** How long the replicas have to confirm it (`--redis-replica-timeout-ms`). */
  replicaTimeoutMs?: number;
  /** How long Redis has to answer at all. Default 5000. */
  connectTimeoutMs?: number;
  logger?: Logger;
}

/**
 * The key of presence tickets shared by every node of a cluster, when no configured secret gives
 * one: `<prefix>presence-key` in Redis, drawn by the first node (SET NX) and read by the others.
 *
 * With `replicas`, taken only once that many replicas have it, as the store's secret is
 * (RedisStore.nodeSecret), else STORE_UNAVAILABLE: a failover that lost it would have the next
 * node to start draw another, and the nodes would refuse each other's tickets (INVALID_SESSION:
 * every polling client of the other nodes joins presence again). A key another node drew is
 * confirmed too, through a write of this connection after reading it (WAIT covers only what the
 * master had when this connection last wrote).
 */
export async function sharedPresenceKey(options: SharedPresenceKeyOptions): Promise<Buffer> {
  const redis = createRedisClient(options.url, { connectionName: 'switchboard-presence-key', ...(options.logger ? { logger: options.logger } : {}) });
  try {
    await waitUntilReady(redis, options.connectTimeoutMs ?? 5000);
    const name = `${options.prefix}presence-key`;
    const replicas = options.replicas ?? 0;
    const replication = replicas > 0 ? new Replication(redis, replicas, options.replicaTimeoutMs ?? 1000) : undefined;
    const mark = replication?.before(name);
    const drawn = await redis.set(name, randomBytes(32).toString('base64'), 'NX');
    const stored = await redis.get(name);
    if (stored === null) throw new SwitchboardError('STORE_UNAVAILABLE', `${name} vanished right after it was set`);
    if (replication) {
      // In its slot: in a Redis Cluster the WAIT goes to the master of the key's slot.
      if (drawn === null) await redis.set(probeKey(name), 'presence-key');
      await replication.confirm(mark!);
    }
    return Buffer.from(stored, 'base64');
  } finally {
    redis.disconnect();
  }
}
