/**
 * `--redis-replicas N` with a master that gains replicas while the node runs: the store counts
 * them again every `replicaCheckMs` and warns, once per master and count, when there are more
 * than N (a failover may promote one that lacks what only N confirmed: docs/operations.md,
 * "Redis Sentinel"). Private redis-servers of the test's own on free ports.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore } from '../src/server/store/redis-store.js';
import { captureLogs, waitFor } from './helpers.js';
import { PrivateRedis, privateRedisSkipReason } from './helpers/private-redis.js';
import { uniquePrefix } from './helpers/redis-probe.js';

const skip = privateRedisSkipReason('the replica count of a running store (test/redis-replica-check.test.ts)');

describe('a replica added to a running deployment', { skip, timeout: 30_000 }, () => {
  const servers: PrivateRedis[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  /** Makes `replica` a replica of `master` and waits until the master counts it. */
  async function follow(replica: PrivateRedis, master: PrivateRedis, count: number): Promise<void> {
    const r = new Redis(replica.url, { maxRetriesPerRequest: 0 });
    const m = new Redis(master.url, { maxRetriesPerRequest: 0 });
    try {
      await r.replicaof('127.0.0.1', master.port);
      for (let i = 0; i < 200 && !new RegExp(`connected_slaves:${count}\\b`).test(await m.info('replication')); i++) await sleep(50);
    } finally {
      r.disconnect();
      m.disconnect();
    }
  }

  it('is told of by a store of --redis-replicas 1 once the master has 2, once, naming the master; not while it has 1', async () => {
    const [master, first, second] = [await PrivateRedis.start(), await PrivateRedis.start(), await PrivateRedis.start()];
    servers.push(master, first, second);
    const { logger, lines } = captureLogs('warn');
    const store = new RedisStore({ url: master.url, prefix: uniquePrefix(), replicas: 1, replicaCheckMs: 100, logger });
    try {
      await store.init();
      const warnings = (): Record<string, unknown>[] => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('--redis-replicas is 1'));
      await follow(first, master, 1);
      await sleep(500); // five checks
      assert.equal(warnings().length, 0, 'one replica, as many as --redis-replicas: nothing to say');
      await follow(second, master, 2);
      await waitFor(() => warnings().length > 0, 5000, 'the warning of the second replica');
      await sleep(500);
      assert.equal(warnings().length, 1, 'once, not at every check');
      assert.equal(warnings()[0]!.replicas, 2);
      assert.equal(warnings()[0]!.master, `127.0.0.1:${master.port}`);
    } finally {
      await store.close();
    }
  });
});
