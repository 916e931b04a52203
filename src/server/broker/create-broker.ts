import type { Logger } from '../logger.js';
import type { Broker } from './broker.js';
import { LocalBroker } from './local-broker.js';
import { RedisBroker } from './redis-broker.js';

/** What `createBroker` needs; `redisUrl` defaults to redis://127.0.0.1:6379. */
export interface CreateBrokerOptions {
  kind: 'local' | 'redis';
  redisUrl?: string;
  /** Nodes with the same prefix share one channel (redis only). */
  redisPrefix: string;
  /** Where a Redis Sentinel that does not answer is told (redis only). */
  logger?: Logger;
}

/** Builds the broker named by `kind`, not yet initialised: call `init()` before use. */
export function createBroker(options: CreateBrokerOptions): Broker {
  switch (options.kind) {
    case 'local':
      return new LocalBroker();
    case 'redis':
      return new RedisBroker({ url: options.redisUrl ?? 'redis://127.0.0.1:6379', prefix: options.redisPrefix, ...(options.logger ? { logger: options.logger } : {}) });
  }
}
