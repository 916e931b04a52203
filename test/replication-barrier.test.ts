/**
 * ReplicationBarrier on a real Redis: the shared test Redis has no replica, so every WAIT for one
 * finds none. Writes confirmed together share one WAIT, and all of them are refused with
 * STORE_UNAVAILABLE (never acknowledged as replicated); and a store that waits for a replica
 * reads none of the entries no replica confirmed, nor gives a node secret no replica confirmed; and a
 * write made before the client lost its connection is refused (the next connection's WAIT does not cover it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { DEFAULT_ROOM } from '../src/protocol/constants.js';
import { SwitchboardError } from '../src/protocol/errors.js';
import { RedisStore } from '../src/server/store/redis-store.js';
import { ReplicationBarrier } from '../src/server/store/replication-barrier.js';
import { createSwitchboard } from '../src/server/server.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the replication barrier test (test/replication-barrier.test.ts)');

async function waitCalls(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  return Number(/cmdstat_wait:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('ReplicationBarrier', { skip }, () => {
  it('refuses, with STORE_UNAVAILABLE, writes no replica confirmed; ten confirmations asked at once share one or two WAITs', async (t) => {
    const redis = new Redis(redisUrl);
    const admin = new Redis(redisUrl);
    t.after(() => {
      redis.disconnect();
      admin.disconnect();
    });
    const barrier = new ReplicationBarrier(redis, 1, 50);
    const before = await waitCalls(admin);
    const started = performance.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => barrier.confirm()));
    const ms = performance.now() - started;
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      const err = (o as PromiseRejectedResult).reason as SwitchboardError;
      assert.ok(err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE', String(err));
      assert.match(err.message, /on 0 of 1 Redis replicas after 50 ms/);
    }
    const calls = (await waitCalls(admin)) - before;
    assert.ok(calls >= 1 && calls <= 2, `WAITs sent: ${calls}`);
    assert.ok(ms >= 45 && ms < 1000, `one timeout, not ten in a row: ${ms.toFixed(0)} ms`);
    // Asked again later: a new WAIT (the barrier does not remember an old answer).
    await assert.rejects(barrier.confirm(), /STORE_UNAVAILABLE|0 of 1/);
    assert.equal((await waitCalls(admin)) - before, calls + 1);
  });

  it('refuses a write made before the client lost its connection: the WAIT on the next one does not cover it', async (t) => {
    const redis = new Redis(redisUrl);
    t.after(() => redis.disconnect());
    // No replica asked for: every WAIT is enough, so only the lost connection can refuse.
    const barrier = new ReplicationBarrier(redis, 0, 50);
    const since = barrier.connection;
    await barrier.confirm(since);
    await redis.ping();
    const ready = new Promise((resolve) => redis.once('ready', resolve));
    redis.disconnect(true);
    await ready;
    await assert.rejects(barrier.confirm(since), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE' && /connection to Redis was lost since the write/.test(err.message));
    await barrier.confirm(barrier.connection);
  });
});

describe('RedisStore with replicas, on a Redis without any', { skip }, () => {
  it('reads only what a replica confirmed: an entry on the master alone is read by no poll, history or catch-up, until confirmed', async (t) => {
    const prefix = uniquePrefix();
    const plain = new RedisStore({ url: redisUrl, prefix, connectTimeoutMs: 2000 });
    const waiting = new RedisStore({ url: redisUrl, prefix, connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 50 });
    t.after(async () => {
      await Promise.all([plain.close(), waiting.close()]);
      await deleteKeys(prefix);
    });
    await Promise.all([plain.init(), waiting.init()]);
    await plain.createRoom('r');
    const from = { id: 'c', name: 'c' };
    await plain.append({ type: 'message', room: 'r', from, text: 'one' });
    // On the master only (the store that wrote it did not wait for a replica).
    assert.deepEqual(await waiting.readAfter('r', 0, 10), [], 'after a cursor');
    assert.deepEqual(await waiting.readBefore('r', undefined, 10), [], 'history');
    // Refused for want of a replica, though written on the master: read by neither side as confirmed.
    await assert.rejects(waiting.append({ type: 'message', room: 'r', from, text: 'two', clientId: 'two' }), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
    assert.deepEqual(await waiting.readAfter('r', 0, 10), []);
    assert.deepEqual((await plain.readAfter('r', 0, 10)).map((e) => e.type === 'message' && e.text), ['one', 'two'], 'both are on the master');
  });
});

describe('the node secret under replicas, on a Redis without any', { skip }, () => {
  it('nodeSecret is refused (STORE_UNAVAILABLE) when no replica confirms it, drawn by this store or read from another that did not wait', async (t) => {
    const prefix = uniquePrefix();
    const shared = uniquePrefix();
    const waiting = new RedisStore({ url: redisUrl, prefix, connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 50 });
    const plain = new RedisStore({ url: redisUrl, prefix: shared, connectTimeoutMs: 2000 });
    const reading = new RedisStore({ url: redisUrl, prefix: shared, connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 50 });
    t.after(async () => {
      await Promise.all([waiting.close(), plain.close(), reading.close()]);
      await Promise.all([deleteKeys(prefix), deleteKeys(shared)]);
    });
    await Promise.all([waiting.init(), plain.init(), reading.init()]);
    const unavailable = (err: unknown): boolean => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE' && /on 0 of 1 Redis replicas/.test(err.message);
    await assert.rejects(waiting.nodeSecret(), unavailable, 'drawn by this store');
    await assert.rejects(waiting.nodeSecret(), unavailable, 'drawn before, and still on the master only');
    // Drawn by a store that does not wait: on the master only; this store's own WAIT must cover it.
    await plain.nodeSecret();
    await assert.rejects(reading.nodeSecret(), unavailable, 'read from the other store');
  });

  it('a server with --redis-replicas 1 does not start without its replica: the node secret is not confirmed', async () => {
    const prefix = uniquePrefix();
    // A store whose default room exists: creating it (which waits for the replicas too) is not what refuses here.
    const plain = new RedisStore({ url: redisUrl, prefix, connectTimeoutMs: 2000 });
    await plain.init();
    await plain.createRoom(DEFAULT_ROOM);
    await plain.close();
    const sb = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'redis', redisUrl, redisPrefix: prefix, redisReplicas: 1, redisReplicaTimeoutMs: 50, logLevel: 'silent' });
    try {
      await assert.rejects(sb.start(), /^Error: cannot read the node secret from the Redis store at .*: written, but on 0 of 1 Redis replicas after 50 ms: not acknowledged$/);
    } finally {
      await sb.close();
      await deleteKeys(prefix);
    }
  });
});
