import type { Broker } from './broker.js';
import { LocalBroker } from './local-broker.js';

/** Builds the broker named by `kind`. (Placeholder until the Redis broker lands.) */
export function createBroker(options: { kind: 'local' | 'redis'; redisUrl?: string; redisPrefix: string }): Broker {
  if (options.kind !== 'local') throw new Error(`broker ${options.kind} is not available yet`);
  return new LocalBroker();
}
