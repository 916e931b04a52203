/**
 * A room's live channel over the Redis store with `replicas` (test/room-channel.test.ts has the
 * rest of RoomChannel): an entry the store cannot show yet is waited for, never skipped. On a
 * master and a replica of the test's own (the machine's redis-server), the replica frozen
 * (SIGSTOP): a read past the room's confirmed mark cannot be confirmed then and stops at the mark,
 * as during a failover. Before, the channel took that empty read for entries retention had
 * trimmed and delivered past them: two followers of test/redis-sentinel.test.ts's failover missed
 * one acknowledged message for good (a suite run, 2026-12-06); and a resync (the broker listening
 * again) that read nothing did not look again.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Batch } from '../src/server/batch.js';
import { RoomChannel } from '../src/server/room-channel.js';
import { RedisStore } from '../src/server/store/redis-store.js';
import type { Entry } from '../src/protocol/types.js';
import { privateRedisSkipReason } from './helpers/private-redis.js';
import { masterAndReplica } from './helpers/redis-processes.js';
import { waitFor } from './helpers.js';

const skip = privateRedisSkipReason('the live channel over a store with replicas (test/room-channel-replicas.test.ts)');

/**
 * A master and its replica; room `r` with three entries written by a store that does not wait
 * for replicas (the room's confirmed mark stays at 0); the node's store, which waits for one;
 * then the replica frozen, so that a read past the mark stops at it. And a channel of that
 * store at seq 0 with one subscriber, whose deliveries go to `seqs`. All stopped after the test.
 */
async function frozenReplicaRoom(t: { after(fn: () => unknown): void }): Promise<{ thaw: () => void; store: RedisStore; epoch: string; entries: Entry[]; channel: RoomChannel; seqs: number[] }> {
  const redis = await masterAndReplica();
  const stores: RedisStore[] = [];
  const seqs: number[] = [];
  let channel: RoomChannel | undefined;
  t.after(async () => {
    channel?.close();
    redis.replica.kill('SIGCONT');
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
  });
  const url = `redis://127.0.0.1:${redis.masterPort}`;
  const writer = new RedisStore({ url, prefix: 'sb:', connectTimeoutMs: 2000 });
  stores.push(writer);
  await writer.init();
  const { state } = await writer.createRoom('r');
  const entries: Entry[] = [];
  for (let i = 0; i < 3; i++) entries.push((await writer.append({ type: 'message', room: 'r', from: { id: 'x', name: 'x' }, text: `m${i}` })).entry);
  const store = new RedisStore({ url, prefix: 'sb:', connectTimeoutMs: 2000, replicas: 1, replicaTimeoutMs: 200 });
  stores.push(store);
  await store.init();
  redis.replica.kill('SIGSTOP');
  channel = new RoomChannel('r', state.epoch, 0, store, () => {});
  channel.subscribers.add({ transport: 'websocket', position: 0, deliver: (batch: Batch) => void seqs.push(...batch.entries.map((e) => e.seq)), historyReset() {} });
  return { thaw: () => redis.replica.kill('SIGCONT'), store, epoch: state.epoch, entries, channel, seqs };
}

describe('RoomChannel over the Redis store with replicas 1', { skip, timeout: 30_000 }, () => {
  it('an entry past the confirmed mark while the replica is away is waited for, not skipped: delivered in order once the replica confirms it', async (t) => {
    const { thaw, store, epoch, entries, channel, seqs } = await frozenReplicaRoom(t);
    assert.deepEqual(await store.readAfter('r', 0, 10), [], 'nothing readable past the mark while the replica is away');
    channel.receive(epoch, entries[2]!); // 1 and 2 lost on the way (a broker reconnecting)
    // Several reads of the gap find nothing readable; none may deliver 3 before 1 and 2.
    await sleep(1500);
    assert.deepEqual(seqs, [], 'nothing delivered past entries the store could not show yet');

    thaw();
    await waitFor(() => seqs.length === 3, 10_000, 'the gap filled once the replica confirms');
    assert.deepEqual(seqs, [1, 2, 3]);
  });

  it('a resync (the broker listening again) that reads nothing while the replica is away reads again: the entries come once it confirms them, though no later entry comes to show the gap', async (t) => {
    const { thaw, epoch, channel, seqs } = await frozenReplicaRoom(t);
    await channel.resync(epoch);
    await sleep(600);
    assert.deepEqual(seqs, [], 'nothing readable past the mark while the replica is away');

    thaw();
    await waitFor(() => seqs.length === 3, 10_000, 'the entries after the resync once the replica confirms');
    assert.deepEqual(seqs, [1, 2, 3]);
  });
});
