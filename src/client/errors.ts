import { ERRORS, SwitchboardError, isErrorCode, type ClientErrorCode, type ErrorCode } from '../protocol/errors.js';

/**
 * Codes of failures that happen before, or instead of, an answer from Switchboard (CLIENT_ERRORS
 * of the catalog, src/protocol/errors.ts):
 * - `INVALID_URL`: the `url` option is not an http(s) URL.
 * - `UNREACHABLE`: nothing answered (connection refused, unknown host, network down).
 * - `BLOCKED`: something answered, but not Switchboard over this transport: a WebSocket upgrade
 *   refused or stripped, an event stream held back by a buffering proxy, an answer that is not
 *   Switchboard's JSON (a proxy's 502 page, another server at that URL).
 * - `TIMEOUT`: an answer did not come in time (a publish ack, a poll, a silent connection).
 * - `CONNECTION_LOST`: an open connection dropped.
 * - `CLOSED`: the client was closed (pending publishes are rejected with this).
 */
export type ConnectionErrorCode = ClientErrorCode;

/** A failure with no Switchboard answer behind it (see ConnectionErrorCode). */
export class ConnectionError extends Error {
  readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionError';
    this.code = code;
  }
}

/** Everything the SDK rejects with: a server's catalog error or a connection failure. */
export type ClientError = SwitchboardError | ConnectionError;

/**
 * Catalog codes after which trying again with the same options cannot succeed: the client
 * stops (status `closed`) instead of reconnecting.
 */
const TERMINAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'UNAUTHORIZED',
  'TOKEN_EXPIRED',
  'FORBIDDEN',
  'MEMBER_DISCONNECTED',
  'ROOM_DELETED',
  'ROOM_NOT_FOUND',
  'INVALID_ROOM_NAME',
  'ORIGIN_NOT_ALLOWED',
  'BAD_REQUEST',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'ROOM_LIMIT',
  'INVALID_CURSOR',
]);

/**
 * What a failure means for the client:
 * - `terminal`: stop, tell the user;
 * - `unreachable`: the server is down or the network is: back off, same transport;
 * - `blocked`: the server is there but this transport does not get through: `auto` falls back;
 * - `retry`: a connection was lost or the server asked to come back later: back off and resume.
 */
export type FailureKind = 'terminal' | 'unreachable' | 'blocked' | 'retry';

export function failureKind(err: ClientError): FailureKind {
  if (err instanceof SwitchboardError) return TERMINAL.has(err.code) ? 'terminal' : 'retry';
  switch (err.code) {
    case 'INVALID_URL':
    case 'CLOSED':
      return 'terminal';
    case 'UNREACHABLE':
      return 'unreachable';
    case 'BLOCKED':
      return 'blocked';
    default:
      return 'retry';
  }
}

/** A publish that failed this way may be sent again with the same clientId (it may or may not have been stored). */
export function isRetryablePublishFailure(err: ClientError): boolean {
  if (err instanceof ConnectionError) return err.code !== 'CLOSED' && err.code !== 'INVALID_URL';
  return err.code === 'SHUTTING_DOWN' || err.code === 'STORE_UNAVAILABLE' || err.code === 'TOO_MANY_CONNECTIONS' || err.code === 'SLOW_CONSUMER' || err.code === 'INTERNAL';
}

/** Any thrown value as a ClientError (unknown ones become CONNECTION_LOST, keeping the cause). */
export function toClientError(err: unknown): ClientError {
  if (err instanceof SwitchboardError || err instanceof ConnectionError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectionError('CONNECTION_LOST', message, { cause: err });
}

/**
 * The SwitchboardError of a catalog error body `{code, message}` (an HTTP answer or a WebSocket
 * `error` frame), keeping the server's detail; undefined when the body is not one.
 */
export function errorFromBody(body: unknown): SwitchboardError | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const { code, message } = body as { code?: unknown; message?: unknown };
  if (!isErrorCode(code)) return undefined;
  const prefix = `${ERRORS[code].message}: `;
  const detail = typeof message === 'string' && message.startsWith(prefix) ? message.slice(prefix.length) : undefined;
  return new SwitchboardError(code, detail);
}

/** The error of a non-2xx HTTP answer: the catalog error it carries, or BLOCKED when it is not Switchboard's. */
export function errorFromResponse(status: number, text: string, what: string): ClientError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return errorFromBody(body) ?? new ConnectionError('BLOCKED', `${what} answered HTTP ${status}, not a Switchboard answer`);
}

/** A short reason of a low-level network error (fetch's TypeError hides it in `cause`). */
export function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string' && cause.message) return cause.message;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}
