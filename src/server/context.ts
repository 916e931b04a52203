import type { AccessLog } from './access-log.js';
import type { ServerConfig } from './config.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Hub } from './hub.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { DerivedIds } from './session/derived-ids.js';
import type { SwitchboardHooks } from './session/hooks.js';
import type { Limits } from './session/limits.js';
import type { LogLimiter } from './session/log-limiter.js';
import type { Policy } from './session/policy.js';
import type { PresenceTickets } from './session/presence-ticket.js';

/** What every transport is given: the composition root builds one per server. */
export interface ServerContext {
  config: ServerConfig;
  hub: Hub;
  logger: Logger;
  /** The access log (`request`, `websocket open` / `close` lines), bounded per address. */
  accessLog: AccessLog;
  /** Lines about bad input, rate-limited per kind. */
  badInput: LogLimiter;
  metrics: Metrics;
  connections: ConnectionRegistry;
  policy: Policy;
  limits: Limits;
  tickets: PresenceTickets;
  /** The connection ids the server derives: anonymous senders', users' claimed ones (keyed by the store's secret once started). */
  ids: DerivedIds;
  /** The embedding application's hooks (none by default). */
  hooks: SwitchboardHooks;
  /** The headers every HTTP answer carries (router.ts, commonHeaders): the security headers, and the node's name when it says it. */
  commonHeaders: Readonly<Record<string, string>>;
}
