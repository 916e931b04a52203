/**
 * The Switchboard client SDK, for browsers and Node: the `switchboard-client` package
 * (`import { connect } from 'switchboard-client'`; also `switchboard/client` of the server package).
 * See docs/client.md.
 */
import { SwitchboardClient } from './client.js';
import type { Client, ConnectOptions } from './types.js';

export type * from './types.js';
export type { ErrorCode, ErrorBody } from '../protocol/errors.js';
export type { Position, Sender, EntryType, RoomInfo, PollResult } from '../protocol/types.js';
export { SwitchboardError, ERRORS, isErrorCode } from '../protocol/errors.js';
export { TRANSPORTS } from '../protocol/types.js';
export { CLIENT_ID_PATTERN, DEFAULT_ROOM, MAX_NAME_LENGTH, ROOM_NAME_PATTERN } from '../protocol/constants.js';
export { formatCursor, parseCursor } from '../protocol/cursor.js';
export { ConnectionError, type ConnectionErrorCode, type ClientError } from './errors.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { CLIENT_DEFAULTS } from './options.js';
export { FoldedMessages, type FoldedMessagesOptions } from './folded-messages.js';

/**
 * Connects to a room and resolves once the first transport is connected and subscribed.
 *
 * With `transport: 'auto'` (the default) that first connection may go down the fallback list
 * (WebSocket, SSE, long polling, short polling) when a transport is blocked on the way; each
 * step is described in docs/client.md. There are no retries here: if the first connection
 * cannot be made, it rejects, with a SwitchboardError carrying the server's code
 * (ROOM_NOT_FOUND, UNAUTHORIZED, INVALID_ROOM_NAME, BAD_REQUEST...) or a ConnectionError
 * (INVALID_URL, UNREACHABLE, BLOCKED when no transport gets through). Once connected, the client
 * reconnects by itself.
 *
 * Events raised while connecting (the first `status`, `presence`, wire events, entries replayed
 * after `after`) are delivered on the next macrotask: subscribe right after `await connect()`.
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  const client = new SwitchboardClient(options);
  await client.start();
  setTimeout(() => client.releaseEvents(), 0);
  return client;
}
