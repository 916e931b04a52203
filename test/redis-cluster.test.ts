/**
 * Everything Redis-backed, on a real three-master Redis Cluster started for this file from the
 * machine's redis-server (test/helpers/redis-cluster.ts), and stopped at the end: the store,
 * broker and presence contracts, the three-node suite and the room interest suite.
 */
import { after, before, describe } from 'node:test';
import { roomInterestSuite } from './fixtures/room-interest-suite.js';
import { redisContracts } from './fixtures/redis-contracts.js';
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

  redisContracts('redis cluster', url);

  threeNodesSuite('a Redis Cluster', url, uniquePrefix(), nothing);
  roomInterestSuite('a Redis Cluster', url, uniquePrefix(), nothing);
});
