import type { ServerConfig } from './config.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Hub } from './hub.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** What every transport is given: the composition root builds one per server. */
export interface ServerContext {
  config: ServerConfig;
  hub: Hub;
  logger: Logger;
  metrics: Metrics;
  connections: ConnectionRegistry;
}
