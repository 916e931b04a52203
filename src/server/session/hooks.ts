import type { JsonValue } from '../../protocol/types.js';
import type { Principal } from '../auth/principal.js';
import type { HttpRequest } from '../http-util.js';
import type { SessionTransport } from './session.js';

/** A message as a hook sees it, and may give back changed. */
export interface HookMessage {
  text: string;
  data?: JsonValue;
  event?: string;
}

type Maybe<T> = T | Promise<T>;

/**
 * In-process hooks of an embedding application, run inside the session pipeline after the
 * server's own checks (token, rights, validation, budgets) and before the action. Each may
 * refuse by returning `false` (the client gets FORBIDDEN "refused by the application") or by
 * throwing a SwitchboardError (the client gets its code); any other throw is INTERNAL.
 */
export interface SwitchboardHooks {
  /**
   * A client connects (every HTTP request, WebSocket upgrade and SSE stream; its principal and
   * request: an `http.IncomingMessage`, or over HTTPS with HTTP/2 an `http2.Http2ServerRequest`).
   */
  onConnect?(input: { principal: Principal; request: HttpRequest }): Maybe<boolean | void>;
  /** A session subscribes to a room (WebSocket, SSE, the lecture's streams). */
  onSubscribe?(input: { principal: Principal; room: string; transport: SessionTransport }): Maybe<boolean | void>;
  /** A message is about to be stored: allow (nothing), refuse (false), or give back a changed message (checked again like a client's). */
  onPublish?(input: { principal: Principal; room: string; transport: SessionTransport; message: HookMessage }): Maybe<boolean | void | HookMessage>;
}
