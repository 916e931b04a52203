import { MemoryStore } from '../src/server/store/memory-store.js';
import { messageStoreContract } from './contract/message-store.contract.js';

messageStoreContract('memory', async () => {
  const store = new MemoryStore();
  await store.init();
  return { store, cleanup: () => store.close() };
}, false);
