import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { BrokerMessage } from '../src/server/broker/broker.js';
import { RedisBroker } from '../src/server/broker/redis-broker.js';
import { brokerContract } from './contract/broker.contract.js';
import { freePort } from './helpers/ports.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';
import { Redis } from 'ioredis';

const skip = await redisSkipReason('the Redis broker suites (test/broker-redis.test.ts)');

async function open(prefix: string): Promise<RedisBroker> {
  const broker = new RedisBroker({ url: redisUrl, prefix, connectTimeoutMs: 2000 });
  await broker.init();
  return broker;
}

const typing: BrokerMessage = { kind: 'typing', notice: { room: 'r', from: { id: 'c', name: 'c' } } };

describe('redis', { skip }, () => {
  brokerContract('redis (two nodes)', async () => {
    const prefix = uniquePrefix();
    const brokers = [await open(prefix), await open(prefix)];
    // Pub/sub leaves no keys behind; the disconnect orders kept for later nodes do.
    return {
      brokers,
      cleanup: async () => {
        await Promise.all(brokers.map((b) => b.close()));
        await deleteKeys(prefix);
      },
    };
  });

  describe('RedisBroker', () => {
    it('keeps the disconnect orders for the nodes that start later: the latest 10,000 of the last 24 h, in one key that expires with them', async () => {
      const prefix = uniquePrefix();
      const a = await open(prefix);
      const redis = new Redis(redisUrl);
      try {
        const t = Date.now();
        await a.publish({ kind: 'disconnect', member: 'old', at: t - 25 * 3600_000 }); // past a ticket's life
        await a.publish({ kind: 'disconnect', member: 'ann', room: 'r', at: t - 1000 });
        await a.publish({ kind: 'disconnect', member: 'bob', at: t });
        const later = await open(prefix);
        try {
          assert.deepEqual(await later.recentDisconnects(), [
            { member: 'ann', room: 'r', at: t - 1000 },
            { member: 'bob', at: t },
          ]);
        } finally {
          await later.close();
        }
        const ttl = await redis.pttl(`${prefix}disconnects`);
        assert.ok(ttl > 23 * 3600_000 && ttl <= 24 * 3600_000, `expires with its orders (${ttl} ms)`);
        // Bounded whatever the orders' rate: the oldest go first.
        await Promise.all(Array.from({ length: 10_005 }, (_, i) => a.publish({ kind: 'disconnect', member: `m${i}`, at: t + i })));
        const kept = await a.recentDisconnects();
        assert.equal(kept.length, 10_000);
        assert.deepEqual([kept[0]!.member, kept.at(-1)!.member], ['m5', 'm10004']);
      } finally {
        await a.close();
        redis.disconnect();
        await deleteKeys(prefix);
      }
    });

    it('does not hear nodes of another prefix', async () => {
      const a = await open(uniquePrefix());
      const b = await open(uniquePrefix());
      try {
        const heard: BrokerMessage[] = [];
        b.onMessage((m) => heard.push(m));
        const own: BrokerMessage[] = [];
        a.onMessage((m) => own.push(m));
        await a.watch('r');
        await b.watch('r');
        await a.publish(typing);
        while (own.length === 0) await sleep(5);
        await sleep(50);
        assert.equal(heard.length, 0);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('resolves publish at once and pings false while Redis cannot be reached', async () => {
      const broker = new RedisBroker({ url: `redis://127.0.0.1:${await freePort()}`, prefix: uniquePrefix(), connectTimeoutMs: 300 });
      try {
        await assert.rejects(broker.init(), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
        const started = Date.now();
        await broker.publish(typing);
        assert.ok(Date.now() - started < 200);
        assert.equal(await broker.ping(), false);
      } finally {
        await broker.close();
      }
    });
  });
});
