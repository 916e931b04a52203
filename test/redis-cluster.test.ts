/**
 * Everything Redis-backed, on a real three-master Redis Cluster started for this file from the
 * machine's redis-server (test/helpers/redis-cluster.ts), and stopped at the end: the store,
 * broker and presence contracts, the three-node suite and the room interest suite.
 */
import { after, before, describe } from 'node:test';
import { RedisBroker } from '../src/server/broker/redis-broker.js';
import { RedisPresenceStore } from '../src/server/presence/redis-presence-store.js';
import { RedisStore } from '../src/server/store/redis-store.js';
import { brokerContract } from './contract/broker.contract.js';
import { messageStoreContract } from './contract/message-store.contract.js';
import { presenceStoreContract } from './contract/presence-store.contract.js';
import { roomInterestSuite } from './fixtures/room-interest-suite.js';
import { threeNodesSuite } from './fixtures/three-nodes-suite.js';
import { RedisCluster, redisClusterSkipReason } from './helpers/redis-cluster.js';
import { uniquePrefix } from './helpers/redis-probe.js';

const skip = redisClusterSkipReason('the Redis Cluster suites (test/redis-cluster.test.ts)');

// Keys need no cleanup: the cluster is this file's own, and goes with its folder.
const nothing = async (): Promise<void> => {};

describe('on a three-master Redis Cluster', { skip }, () => {
  let cluster: RedisCluster | undefined;
  const url = (): string => cluster!.url;

  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(async () => {
    await cluster?.stop();
  });

  messageStoreContract('redis cluster', async () => {
    const prefix = uniquePrefix();
    const open = async (): Promise<RedisStore> => {
      const store = new RedisStore({ url: url(), prefix, trimBatchSize: 7, connectTimeoutMs: 5000 });
      await store.init();
      return store;
    };
    const stores = [await open()];
    return {
      store: stores[0]!,
      reopen: async () => {
        const store = await open();
        stores.push(store);
        return store;
      },
      cleanup: async () => {
        for (const s of stores) await s.close();
      },
    };
  });

  brokerContract('redis cluster (two nodes)', async () => {
    const prefix = uniquePrefix();
    const brokers = await Promise.all(
      [0, 1].map(async () => {
        const broker = new RedisBroker({ url: url(), prefix, connectTimeoutMs: 5000 });
        await broker.init();
        return broker;
      }),
    );
    return { brokers, cleanup: async () => void (await Promise.all(brokers.map((b) => b.close()))) };
  });

  presenceStoreContract('redis cluster', async () => {
    const prefix = uniquePrefix();
    const a = new RedisPresenceStore(url(), prefix);
    const b = new RedisPresenceStore(url(), prefix);
    await a.init();
    await b.init();
    return { a, b, cleanup: async () => void (await Promise.all([a.close(), b.close()])) };
  });

  threeNodesSuite('a Redis Cluster', url, uniquePrefix(), nothing);
  roomInterestSuite('a Redis Cluster', url, uniquePrefix(), nothing);
});
