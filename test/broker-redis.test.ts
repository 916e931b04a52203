import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { BrokerMessage } from '../src/server/broker/broker.js';
import { RedisBroker } from '../src/server/broker/redis-broker.js';
import { brokerContract } from './contract/broker.contract.js';
import { freePort } from './helpers/private-redis.js';
import { redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

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
    // Pub/sub leaves no keys behind: closing is the whole cleanup.
    return { brokers, cleanup: async () => void (await Promise.all(brokers.map((b) => b.close()))) };
  });

  describe('RedisBroker', () => {
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
