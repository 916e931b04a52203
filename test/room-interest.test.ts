import { roomInterestSuite } from './fixtures/room-interest-suite.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the room interest suite (test/room-interest.test.ts)');
const prefix = uniquePrefix();
roomInterestSuite('one Redis server', () => redisUrl, prefix, () => deleteKeys(prefix), { skip });
