/**
 * The Redis store's secret (nodeSecret, the key of anonymous senders' ids and so of their
 * clientIds' scope) under `replicas`: given only once a replica has it, as an acknowledged append
 * is. On a master and a replica of the test's own (the machine's redis-server), the replica
 * frozen (SIGSTOP) so that it takes nothing, then the master killed and the replica promoted: a
 * failover that loses whatever the replica had not got.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { SwitchboardError } from '../src/protocol/errors.js';
import { RedisStore } from '../src/server/store/redis-store.js';
import { privateRedisSkipReason } from './helpers/private-redis.js';
import { masterAndReplica, withClient } from './helpers/redis-processes.js';
import { waitFor } from './helpers.js';

const skip = privateRedisSkipReason('the node secret under replicas (test/node-secret-replicas.test.ts)');

describe('RedisStore.nodeSecret with replicas 1, on a master and its replica', { skip, timeout: 30_000 }, () => {
  it('is given only once the replica has it: while the replica is frozen it waits, and is refused (STORE_UNAVAILABLE) past the timeout; a secret given survives the master', async (t) => {
    const redis = await masterAndReplica();
    const stores: RedisStore[] = [];
    t.after(async () => {
      await Promise.all(stores.map((s) => s.close()));
      await redis.stop();
    });
    const url = `redis://127.0.0.1:${redis.masterPort}`;
    const prefix = 'sb:';

    // Frozen for longer than the timeout: never confirmed, so never given.
    redis.replica.kill('SIGSTOP');
    const short = new RedisStore({ url, prefix, connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 200 });
    stores.push(short);
    await short.init();
    await assert.rejects(short.nodeSecret(), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE' && /on 0 of 1 Redis replicas/.test(err.message));

    // Frozen for less than it: given once the replica, thawed, has it.
    const store = new RedisStore({ url, prefix, connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 5000 });
    stores.push(store);
    await store.init();
    let answered = false;
    const asked = store.nodeSecret().finally(() => (answered = true));
    await sleep(300);
    assert.equal(answered, false, 'not given while no replica has it');
    redis.replica.kill('SIGCONT');
    const given = await asked;
    assert.equal(given.length, 32);
    // Closed while their master answers (a client of a dead one takes its reconnection delay to quit).
    await Promise.all(stores.splice(0).map((s) => s.close()));

    // The failover: the master goes, the replica is promoted; what it holds is the secret given.
    redis.master.kill('SIGKILL');
    await withClient(redis.replicaPort, (r) => r.call('REPLICAOF', 'NO', 'ONE'));
    await waitFor(() => redis.master.exitCode !== null || redis.master.signalCode !== null, 2000, 'the master to die');
    const promoted = new RedisStore({ url: `redis://127.0.0.1:${redis.replicaPort}`, prefix, connectTimeoutMs: 2000 });
    stores.push(promoted);
    await promoted.init();
    assert.deepEqual(await promoted.nodeSecret(), given, 'the promoted replica has the very secret the store was given');
  });
});
