import { MemoryStore } from './memory-store.js';
import type { MessageStore } from './message-store.js';

/** Builds the store named by `kind`. (Placeholder until the SQLite and Redis stores land.) */
export function createStore(options: { kind: 'memory' | 'sqlite' | 'redis'; dataDir: string; redisUrl?: string; redisPrefix: string }): MessageStore {
  if (options.kind !== 'memory') throw new Error(`store ${options.kind} is not available yet`);
  return new MemoryStore();
}
