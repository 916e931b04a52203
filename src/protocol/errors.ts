/**
 * The one error catalog. Every error a client can see has a stable `code`, an HTTP status for the
 * HTTP routes and, where it ends a WebSocket, a close code. docs/protocol.md lists the same table;
 * test/error-catalog.test.ts keeps the two in step.
 *
 * Close code ranges (as in Centrifugo): 1000-1015 are RFC 6455's; 4000-4099 mean "reconnect
 * and resume" (4005, TOKEN_EXPIRED: with a new token); 4100-4199 mean "do not reconnect with the
 * same credentials".
 */
export const ERRORS = {
  BAD_JSON: { status: 400, message: 'The body or frame is not valid JSON' },
  BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  TEXT_REQUIRED: { status: 400, message: 'A non-empty "text" (or, on the native routes, a "data") is required' },
  INVALID_ROOM_NAME: { status: 400, message: 'Room names are 1-64 characters of A-Z a-z 0-9 _ . -, not only dots' },
  INVALID_CURSOR: { status: 400, message: 'The cursor is not of the form "<epoch>:<seq>" or "<seq>"' },
  INVALID_UTF8: { status: 400, close: 1007, message: 'The text is not valid UTF-8' },
  UNKNOWN_FRAME: { status: 400, message: 'Unknown frame type' },
  UNAUTHORIZED: { status: 401, close: 4101, message: 'A valid token is required' },
  TOKEN_EXPIRED: { status: 401, close: 4005, message: 'The token has expired: get a new one and reconnect' },
  FORBIDDEN: { status: 403, close: 4103, message: 'Your token does not give this right here' },
  ORIGIN_NOT_ALLOWED: { status: 403, message: 'This Origin is not allowed' },
  NOT_FOUND: { status: 404, message: 'No such route' },
  ROOM_NOT_FOUND: { status: 404, message: 'No such room' },
  MESSAGE_NOT_FOUND: { status: 404, message: 'No such message in this room (never sent, not a message, or removed by retention)' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this route' },
  UPGRADE_REQUIRED: { status: 426, message: 'This is a WebSocket endpoint: connect with a WebSocket (Upgrade: websocket)' },
  ROOM_LIMIT: { status: 409, message: 'The server holds as many rooms as it is allowed to' },
  MESSAGE_DELETED: { status: 409, message: 'The message was deleted' },
  REACTION_LIMIT: { status: 409, message: 'The message has as many different reactions as it may' },
  CLIENT_ID_CONFLICT: { status: 409, message: 'You already used this clientId for another message' },
  INVALID_SESSION: { status: 400, message: 'The presence session is not valid here: join again' },
  TOO_MANY_SUBSCRIPTIONS: { status: 429, message: 'This connection holds as many subscriptions as it may' },
  MESSAGE_TOO_LARGE: { status: 413, close: 1009, message: 'The message is larger than the limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send application/json' },
  EXPECTATION_FAILED: { status: 417, message: 'The only expectation understood is Expect: 100-continue' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than the limit' },
  RATE_LIMITED: { status: 429, close: 4008, message: 'Too many requests: slow down' },
  INTERNAL: { status: 500, close: 1011, message: 'Internal error' },
  TOO_MANY_CONNECTIONS: { status: 503, close: 1013, message: 'The server is at its connection limit' },
  TOO_MANY_CONNECTIONS_FROM_YOU: { status: 429, close: 4009, message: 'Your address or member holds as many connections as it may' },
  SHUTTING_DOWN: { status: 503, close: 1001, message: 'The server is shutting down: reconnect elsewhere' },
  STORE_UNAVAILABLE: { status: 503, close: 1011, message: 'The message store is unavailable: nothing was stored' },
  SLOW_CONSUMER: { status: 503, close: 4000, message: 'The client reads too slowly: reconnect and resume' },
  HEARTBEAT_TIMEOUT: { status: 408, close: 4001, message: 'No pong within the heartbeat interval' },
  HISTORY_RESET: { status: 409, close: 4002, message: "The room's history was reset: subscribe again from your cursor to be told where to start" },
  WRITE_TIMEOUT: { status: 408, close: 4006, message: 'The client did not read what it was sent in time' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request did not come whole in time' },
  MEMBER_DISCONNECTED: { status: 403, close: 4104, message: 'An administrator disconnected you' },
  ROOM_DELETED: { status: 410, close: 4105, message: 'The room was deleted' },
} as const satisfies Record<string, { status: number; close?: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * Codes the client SDK gives failures that have no server answer behind them (so no HTTP status).
 * Part of the same catalog: docs/protocol.md lists them too.
 */
export const CLIENT_ERRORS = {
  INVALID_URL: 'The url option is not an http(s) URL',
  UNREACHABLE: 'Nothing answered: connection refused, unknown host or network down',
  BLOCKED: 'Something answered, but not Switchboard over this transport (an upgrade refused, a buffering proxy, a 502 page)',
  TIMEOUT: 'An answer did not come in time',
  CONNECTION_LOST: 'An open connection dropped',
  CLOSED: 'The client was closed',
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

/** The JSON body of every HTTP error and the payload of every WebSocket `error` frame. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Also set, for the lecture's clients, which read `error`. */
  error: string;
}

/**
 * An error with a catalog code. Thrown inside the server, and by the client SDK on failures. It
 * carries no stack: it is an answer to a client (a refusal), not a fault to debug, and capturing a
 * stack cost more than the rest of a refused request (the cause of an INTERNAL error keeps its own).
 */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** WebSocket close code, when the error ends a connection. */
  readonly closeCode: number | undefined;
  /** What the message says past the catalog's text, when anything (why this one happened). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string) {
    const entry: { status: number; close?: number; message: string } = ERRORS[code];
    const depth = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail ? `${entry.message}: ${detail}` : entry.message);
    Error.stackTraceLimit = depth;
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = entry.status;
    this.closeCode = entry.close;
    this.detail = detail || undefined;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message, error: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}
