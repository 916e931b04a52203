/**
 * The presence key a cluster of nodes shares through Redis (sharedPresenceKey: the key of
 * presence tickets when no secret is configured) under `--redis-replicas`: taken only once a
 * replica has it, as the store's secret is (test/node-secret-replicas.test.ts). On a master and a
 * replica of the test's own, the replica frozen (SIGSTOP), then the master killed and the replica
 * promoted: a failover that loses whatever the replica had not got.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { SwitchboardError } from '../src/protocol/errors.js';
import { sharedPresenceKey } from '../src/server/presence/presence-key.js';
import { privateRedisSkipReason } from './helpers/private-redis.js';
import { masterAndReplica, withClient } from './helpers/redis-processes.js';
import { waitFor } from './helpers.js';

const skip = privateRedisSkipReason('the presence key under replicas (test/presence-key-replicas.test.ts)');

describe('sharedPresenceKey with replicas 1, on a master and its replica', { skip, timeout: 30_000 }, () => {
  it('is taken only once the replica has it, drawn here or by another node: refused (STORE_UNAVAILABLE) while the replica is frozen past the timeout; a key taken survives the master', async (t) => {
    const redis = await masterAndReplica();
    t.after(() => redis.stop());
    const url = `redis://127.0.0.1:${redis.masterPort}`;
    const prefix = 'sb:';

    // Frozen for longer than the timeout: the key this node drew is never confirmed, so not taken.
    redis.replica.kill('SIGSTOP');
    await assert.rejects(sharedPresenceKey({ url, prefix, replicas: 1, replicaTimeoutMs: 200 }), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE' && /on 0 of 1 Redis replicas/.test(err.message));
    // Another node finds it drawn already: still not on the replica, still refused.
    await assert.rejects(sharedPresenceKey({ url, prefix, replicas: 1, replicaTimeoutMs: 200 }), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');

    // Frozen for less than the timeout: taken once the replica, thawed, has it.
    let answered = false;
    const asked = sharedPresenceKey({ url, prefix, replicas: 1, replicaTimeoutMs: 5000 }).finally(() => (answered = true));
    await sleep(300);
    assert.equal(answered, false, 'not taken while no replica has it');
    redis.replica.kill('SIGCONT');
    const key = await asked;
    assert.equal(key.length, 32);
    // Without replicas, the same key (what every node of the cluster reads).
    assert.deepEqual(await sharedPresenceKey({ url, prefix }), key);

    // The failover: the master goes, the replica is promoted; what it holds is the key taken.
    redis.master.kill('SIGKILL');
    await withClient(redis.replicaPort, (r) => r.call('REPLICAOF', 'NO', 'ONE'));
    await waitFor(() => redis.master.exitCode !== null || redis.master.signalCode !== null, 2000, 'the master to die');
    assert.deepEqual(await sharedPresenceKey({ url: `redis://127.0.0.1:${redis.replicaPort}`, prefix }), key, 'the promoted replica has the very key the nodes took');
  });
});
