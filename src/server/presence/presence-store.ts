import type { PresenceMember, TransportName } from '../../protocol/types.js';

/** One connection of a member to a room, as recorded for presence. */
export interface PresenceConnection {
  id: string;
  member: string;
  name: string;
  transport: TransportName;
  /** The node holding the connection (see PresenceMember.nodes). */
  node?: string;
}

/** What `lookup` answers. */
export interface PresenceLookup {
  count: number;
  members: PresenceMember[];
}

/** A member found gone (every connection expired). */
export interface GoneMember {
  room: string;
  member: string;
  name: string;
  /** Id of its last connection. */
  connectionId: string;
}

/**
 * What `add` did, as a room's members see it: a member 'arrived' (it had no live connection), or
 * its connections 'changed' (a new one, or another name or transport), or nothing they see
 * changed ('unchanged': the same connection recorded again, perhaps by another node).
 */
export type PresenceAdded = 'arrived' | 'changed' | 'unchanged';

/**
 * What `remove` did, as a room's members see it: the member 'left' (its last live connection
 * went), or its connections 'changed' (one went, others stay), or 'none': nothing was removed (no
 * such connection, or, given a node, another node holds it now: a client that reconnected there).
 */
export type PresenceRemoved = 'left' | 'changed' | 'none';

/**
 * Who is in which room, across every node. Connections carry an expiry: a node refreshes its
 * own, so the connections of a node that died expire and are reaped. A connection is held by the
 * node that recorded it last (`add` with its `node`): a polling client's requests reach any node,
 * and its record moves to the node that saw its latest poll. The contract:
 *
 * - `add` records (or refreshes) a connection under its `node` and resolves with what the room's
 *   members see of it (PresenceAdded): 'arrived' only when the member had no unexpired
 *   connection in the room on any node before (exactly one caller sees it for a member's
 *   arrival, so exactly one `join` entry is written); 'unchanged' when the store had this very
 *   connection, unexpired, with the same name and transport (its node and expiry may differ: a
 *   poller's record moving to the node of its latest poll); 'changed' otherwise.
 * - `remove` deletes a connection and resolves with what the members see of it (PresenceRemoved):
 *   'left' only when the member has no unexpired connection left (exactly one `leave`), 'none'
 *   when it removed nothing.
 * - `reap` removes members whose every connection expired and returns each of them once, to
 *   one caller only (atomic), who writes their `leave`.
 */
export interface PresenceStore {
  readonly kind: string;
  /** Connects (Redis); resolves when usable. */
  init?(): Promise<void>;
  add(room: string, conn: PresenceConnection, expiresAt: number): Promise<PresenceAdded>;
  /** With `node`, removes the connection only while that node holds it (else resolves 'none', removing nothing). */
  remove(room: string, member: string, connectionId: string, node?: string): Promise<PresenceRemoved>;
  /**
   * Pushes the expiry of these connections to `expiresAt`; with `node`, of those that node holds
   * only. Resolves with those it did not push: not found (removed by another node, or expired and
   * reaped while this node could not refresh them, e.g. during a Redis outage) or, with `node`,
   * held by another node now.
   */
  refresh<C extends { room: string; member: string; id: string }>(conns: C[], expiresAt: number, node?: string): Promise<C[]>;
  /**
   * `limit`: a store may stop after that many (a big room's snapshot needs no more); it may also
   * list all. With `nodes`, each member also says the node of each of its connections (`nodes`,
   * in the order of `transports`; '' for a connection added without one).
   */
  members(room: string, now: number, limit?: number, nodes?: boolean): Promise<PresenceMember[]>;
  /**
   * What a presence notice needs, in one round trip: the records of those of `members` who are
   * present (a member of the list not found left), and how many members the room has. `count` is
   * exact up to `cap`; a room of more answers some number over `cap` (it is not counted whole).
   */
  lookup(room: string, members: readonly string[], now: number, cap: number): Promise<PresenceLookup>;
  /** How many members each room has, in one round trip (room lists); may count a member whose connections expired but were not reaped yet. */
  counts(rooms: string[], now: number): Promise<Map<string, number>>;
  reap(now: number): Promise<GoneMember[]>;
  close(): Promise<void>;
}
