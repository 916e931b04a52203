import { threeNodesSuite } from './fixtures/three-nodes-suite.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the cluster suite (test/cluster.test.ts)');
const prefix = uniquePrefix();
threeNodesSuite('one Redis', () => redisUrl, prefix, () => deleteKeys(prefix), skip);
