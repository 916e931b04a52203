import { MemoryPresenceStore } from '../src/server/presence/memory-presence-store.js';
import { RedisPresenceStore } from '../src/server/presence/redis-presence-store.js';
import { presenceStoreContract } from './contract/presence-store.contract.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

presenceStoreContract('memory', async () => {
  const store = new MemoryPresenceStore();
  return { a: store, b: store, cleanup: async () => {} };
});

const url = redisUrl;
if ((await redisSkipReason('PresenceStore contract: redis')) === undefined) {
  presenceStoreContract('redis', async () => {
    const prefix = uniquePrefix();
    const a = new RedisPresenceStore(url, prefix);
    const b = new RedisPresenceStore(url, prefix);
    await a.init();
    await b.init();
    return {
      a,
      b,
      cleanup: async () => {
        await deleteKeys(prefix);
        await a.close();
        await b.close();
      },
    };
  });
}
