import type { Logger } from '../logger.js';
import { MemoryStore } from './memory-store.js';
import type { MessageStore } from './message-store.js';
import { RedisStore } from './redis-store.js';
import { SqliteStore } from './sqlite-store.js';

/** What `createStore` needs; `redisUrl` defaults to redis://127.0.0.1:6379. */
export interface CreateStoreOptions {
  kind: 'memory' | 'sqlite' | 'redis';
  /** Where the SQLite file lives (sqlite only). */
  dataDir: string;
  redisUrl?: string;
  /** Prefix of every Redis key (redis only). */
  redisPrefix: string;
  /** Replicas a write must reach before it is acknowledged, and how long it may wait for them (redis only; see RedisStoreOptions). */
  redisReplicas?: number;
  redisReplicaTimeoutMs?: number;
  /** Where a Redis Sentinel that does not answer is told (redis only). */
  logger?: Logger;
}

/** Builds the store named by `kind`, not yet initialised: call `init()` before use. */
export function createStore(options: CreateStoreOptions): MessageStore {
  switch (options.kind) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return new SqliteStore({ dataDir: options.dataDir });
    case 'redis':
      return new RedisStore({
        url: options.redisUrl ?? 'redis://127.0.0.1:6379',
        prefix: options.redisPrefix,
        ...(options.redisReplicas !== undefined ? { replicas: options.redisReplicas } : {}),
        ...(options.redisReplicaTimeoutMs !== undefined ? { replicaTimeoutMs: options.redisReplicaTimeoutMs } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
  }
}
