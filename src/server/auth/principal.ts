/**
 * Who a session acts for, and what it may do. Pure data and pure functions: no I/O.
 *
 * A right is granted per room, by room name or by a pattern with `*` (any run of characters):
 * - `read`: subscribe on every transport, read history and presence;
 * - `write`: publish, typing;
 * - `create`: create rooms whose name matches;
 * - `admin`: reset history, delete rooms, disconnect members of the room.
 */
export type Right = 'read' | 'write' | 'create' | 'admin';

export const RIGHTS: readonly Right[] = ['read', 'write', 'create', 'admin'];

/** Room name or pattern (`"team-*"`, `"*"`) → rights there: the `rooms` claim of a token. */
export type RoomGrants = Readonly<Record<string, readonly Right[]>>;

/**
 * - `user`: identified by a verified token (`sub`, `name`);
 * - `guest`: no token (an open server, or `--guests` on a server with keys);
 * - `system`: the server API key (a backend), every right everywhere.
 */
export type PrincipalKind = 'user' | 'guest' | 'system';

export interface Principal {
  readonly kind: PrincipalKind;
  /** Member id: the token's `sub`; for guests, what the client said (open server) or a server-made id. */
  readonly member: string;
  /** Display name: the token's `name` (or its `sub`); for guests, what the client said or `guest-xxxx`. */
  readonly name: string;
  readonly grants: RoomGrants;
  /** When the token stops being valid (epoch ms); undefined for guests and the system. */
  readonly expiresAt: number | undefined;
  /** The client's address (rate limits and connection caps of guests are keyed on it). */
  readonly address: string;
}

/**
 * The application's own code: `Switchboard.publish`, `createRoom`, `history`... of an embedding
 * process. The system's rights, and no budget: it is the operator's process, not a client (the
 * HTTP API key, a client of the same rights, spends the `member:system` budgets). Known by
 * identity, so that nothing a client sends can pass for it.
 */
export const APP_PRINCIPAL: Principal = Object.freeze({ kind: 'system', member: 'system', name: 'system', grants: Object.freeze({}), expiresAt: undefined, address: 'local' });

/** The key budgets are kept under: the member for users and the system, the address for guests. */
export function limitKey(p: Principal): string {
  return p.kind === 'guest' ? `ip:${p.address}` : `member:${p.member}`;
}

const patternCache = new Map<string, RegExp>();
/** What `.` does not match. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

/** True when `room` matches `pattern` (`*` stands for any run of characters, everything else is literal). */
export function roomMatches(pattern: string, room: string): boolean {
  // Every room (an open server's grants, most guests'): `^.*$` without a cache lookup.
  if (pattern === '*') return !LINE_TERMINATOR.test(room);
  if (!pattern.includes('*')) return pattern === room;
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    if (patternCache.size > 1000) patternCache.clear();
    patternCache.set(pattern, re);
  }
  return re.test(room);
}

/** Every right the grants give in `room` (the union over every matching key). */
export function rightsIn(grants: RoomGrants, room: string): Set<Right> {
  const out = new Set<Right>();
  for (const [pattern, rights] of Object.entries(grants)) {
    if (roomMatches(pattern, room)) for (const r of rights) out.add(r);
  }
  return out;
}

/** True when the principal holds `right` in `room`. */
export function can(p: Principal, room: string, right: Right): boolean {
  if (p.kind === 'system') return true;
  // for-in, not Object.entries: every command of every request asks, and entries is an array of arrays.
  const grants = p.grants;
  for (const pattern in grants) {
    if (Object.hasOwn(grants, pattern) && grants[pattern]!.includes(right) && roomMatches(pattern, room)) return true;
  }
  return false;
}
