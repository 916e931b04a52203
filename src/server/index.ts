/**
 * Switchboard, the server as a library: `import { createSwitchboard } from 'switchboard'`.
 * Run it on its own port (`listen`), or on your own http/https server, Express, Fastify or Hono
 * app, under a path (`attach`, `handler`). See docs/embedding.md.
 */
export { createSwitchboard, type AppMessage, type AttachableServer, type Switchboard, type SwitchboardOptions } from './server.js';
export { DEFAULT_CONFIG, configFromEnv, type ServerConfig } from './config.js';
export { OptionError } from './options.js';
export type { HttpRequest, HttpResponse } from './http-util.js';
export type { Method, RouteInfo } from './router.js';
export type { Principal, Right, RoomGrants } from './auth/principal.js';
export type { CryptoGuard, TokenVerifier, VerifiedToken } from './auth/token-verifier.js';
export type { HookMessage, SwitchboardHooks } from './session/hooks.js';
export { signWebhook, verifyWebhook } from './webhooks/webhook-signature.js';
export type { WebhookEvent, WebhookEventType } from './webhooks/webhook-event.js';
export type { MessageStore } from './store/message-store.js';
export type { Broker } from './broker/broker.js';
export type { PresenceStore } from './presence/presence-store.js';
export type { Budget, Held, LimitPeers, Spend } from './session/limits.js';
export { SwitchboardError, ERRORS, type ErrorCode } from '../protocol/errors.js';
export type { Ack, Entry, HistoryPage, PresenceMember, RoomInfo } from '../protocol/types.js';
