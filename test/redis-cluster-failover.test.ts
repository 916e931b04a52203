/**
 * A Redis Cluster master that dies: on a real cluster of three masters with a replica each
 * (test/helpers/redis-cluster.ts), two Switchboard nodes serve one room whose slot's master is
 * killed (SIGKILL); once its replica took over, the room goes on: publishes on one node are
 * stored (each once, with its clientId) and delivered over the sharded pub/sub to a WebSocket
 * client of the other node, in order, nothing lost or doubled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, request, startServer, WsProbe } from './helpers.js';
import { RedisCluster, redisClusterSkipReason } from './helpers/redis-cluster.js';
import { uniquePrefix } from './helpers/redis-probe.js';

const skip = redisClusterSkipReason('the Redis Cluster failover test (test/redis-cluster-failover.test.ts)');

describe('a Redis Cluster master fails over to its replica', { skip, timeout: 90_000 }, () => {
  let cluster: RedisCluster | undefined;

  before(async () => {
    // A master that does not answer for 1 s is failed over.
    cluster = await RedisCluster.start(3, { replicas: 1, nodeTimeoutMs: 1000 });
  });
  after(async () => {
    await cluster?.stop();
  });

  it("the room whose master died goes on once its replica took over: what one node stores, the other's WebSocket clients get, once each and in order", async () => {
    const prefix = uniquePrefix();
    const nodes = await Promise.all([0, 1].map(() => startServer({ store: 'redis', redisUrl: cluster!.url, redisPrefix: prefix, rateLimitPerSecond: 100_000, rateLimitBurst: 100_000 })));
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const room = 'failover';
    const probe = new WsProbe(`ws://127.0.0.1:${b.port}/api/ws?member=reader`);
    try {
      assert.equal((await request(`${a.url}/api/rooms/${room}`, { method: 'PUT' })).status, 201);
      await probe.opened;
      probe.ws.send(JSON.stringify({ type: 'subscribe', room }));
      await probe.next('subscribed');
      /** Publishes on node a, the same clientId again until it is acknowledged (as the SDK retries). */
      const publish = async (text: string): Promise<number> => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const answer = await postJson(`${a.url}/api/rooms/${room}/messages`, { text, clientId: `c-${text}`, member: 'writer', name: 'Writer' }).catch((err: Error) => ({ status: 0, body: err.message }));
          if (answer.status === 201 || answer.status === 200) return (JSON.parse(answer.body) as { seq: number }).seq;
          if (Date.now() > deadline) throw new Error(`"${text}" not acknowledged in 30 s: ${answer.status} ${answer.body}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      const texts = ['before-1', 'before-2'];
      for (const t of texts) await publish(t);
      await probe.next('message', (f) => f.text === 'before-2');

      const failed = await cluster!.masterOf(room);
      // Without --redis-replicas a write is acknowledged before any replica has it: killed at
      // once, the master may take the room with it (docs/operations.md). Killed once its replica
      // has everything, what this test asks is only that the room goes on after the failover.
      await cluster!.waitForReplicasSynced(failed);
      cluster!.kill(failed);
      const promoted = await cluster!.waitForFailover(room, failed);
      assert.notEqual(promoted, failed);

      for (let i = 1; i <= 5; i++) {
        texts.push(`after-${i}`);
        await publish(`after-${i}`);
      }
      await probe.next('message', (f) => f.text === 'after-5', 15_000);
      const got = probe.frames.filter((f) => f.type === 'message');
      assert.deepEqual(
        got.map((f) => f.text),
        texts,
        'every message once, in order',
      );
      const seqs = got.map((f) => f.seq as number);
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
    } finally {
      probe.ws.close();
      await Promise.all(nodes.map((n) => n.server.close()));
    }
  });
});
