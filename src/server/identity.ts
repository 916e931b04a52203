import { SwitchboardError } from '../protocol/errors.js';
import { clientMessageId, displayName } from '../protocol/schemas.js';
import { randomId } from './ids.js';

/** Who a client says it is: a display name, a stable member id, and the id of this connection. */
export interface Identity {
  connectionId: string;
  member: string;
  name: string;
}

/**
 * Reads `name`, `member` and `connection` from query parameters (what EventSource and WebSocket
 * clients can send). Missing ones are made up: a guest name, a fresh member and connection id.
 * Throws BAD_REQUEST for a malformed one.
 */
export function identityFrom(params: URLSearchParams): Identity {
  const connectionId = checked(params.get('connection'), clientMessageId, 'connection') ?? randomId();
  const member = checked(params.get('member'), clientMessageId, 'member') ?? connectionId;
  const name = checked(params.get('name'), displayName, 'name') ?? `guest-${member.slice(0, 4)}`;
  return { connectionId, member, name };
}

function checked(value: string | null, schema: { safeParse(v: unknown): { success: boolean } }, what: string): string | undefined {
  if (value === null || value === '') return undefined;
  if (!schema.safeParse(value).success) throw new SwitchboardError('BAD_REQUEST', `invalid ${what}`);
  return value;
}
