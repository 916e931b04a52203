import type { PresenceMember, TransportName } from '../../protocol/types.js';

/**
 * One connection of a member to a room, as recorded for presence: one transport of it. A client
 * may open two transports with one connection id at once (the SDK's switch opens the new one
 * before it closes the old one; a client's own `connection=` used twice), and each is its own
 * record: see `recordId`.
 */
export interface PresenceConnection {
  /** The record's id (recordId): the connection id and, mostly, an attachment telling its transports apart. */
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
  /** Record id of its last connection (see recordId). */
  connectionId: string;
}

/** What separates a record id's connection id from its attachment (no connection id has it: CLIENT_ID_PATTERN, randomId). */
const ATTACHMENT_MARK = '#';

/**
 * The id of a presence record: `<connection id>#<attachment>`, `attachment` telling apart the
 * transports of one connection id: a WebSocket or SSE connection's own, drawn as it subscribes;
 * a polling client's, drawn at its join and carried by its ticket (its record moves between the
 * nodes its polls reach). The connection id alone for a ticket without one (the lecture's, or
 * one from an older build).
 */
export function recordId(connectionId: string, attachment?: string): string {
  return attachment === undefined ? connectionId : `${connectionId}${ATTACHMENT_MARK}${attachment}`;
}

/** The connection id of a record id (see recordId). */
export function connectionIdOf(id: string): string {
  const at = id.indexOf(ATTACHMENT_MARK);
  return at < 0 ? id : id.slice(0, at);
}

/**
 * What `add` did, as a room's members see it: a member 'arrived' (it had no live connection), or
 * its connections 'changed' (a new one, or another name or transport), or nothing they see
 * changed ('unchanged': the same connection recorded again, perhaps by another node); with
 * `restore`, 'superseded': nothing was added, a reconnection of that client replaced the record.
 */
export type PresenceAdded = 'arrived' | 'changed' | 'unchanged' | 'superseded';

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
 *   poller's record moving to the node of its latest poll), or replaced one released record as
 *   it was (see the rule below); 'changed' otherwise.
 * - `remove` deletes a connection and resolves with what the members see of it (PresenceRemoved):
 *   'left' only when the member has no unexpired connection left (exactly one `leave`), 'none'
 *   when it removed nothing.
 * - `reap` removes members whose every connection expired and returns each of them once, to
 *   one caller only (atomic), who writes their `leave`.
 *
 * Records that share a connection id (see recordId) are one client on several transports. The
 * rule, the same on every store, each step atomic:
 * - `release`: a record's connection closed. It is removed at once ('changed') while another
 *   unreleased, unexpired record of its connection id lives (the client goes on there: the old
 *   transport of a switch, one of two tabs); else it stays listed, marked released, for the
 *   grace, after which its node `remove`s it.
 * - `add` replaces (removes) the released records of its connection id: a client back within the
 *   grace, on this transport or another, on this node or another. It also replaces the live
 *   records of its connection id on its own transport: a client holds one connection per
 *   transport, so one there already is a reconnection's old connection whose close the server
 *   has not seen yet (it often comes after the new one's add: another node, or a socket that
 *   died without a word). Replacing one live record of the same name and transport is
 *   'unchanged', and the old connection's `release` then finds nothing.
 * - `add` with `restore` (a node records again a connection of its own that the store lost)
 *   adds nothing while a live unreleased record replaces it that way, and answers 'superseded':
 *   the old node does not take the client back from its reconnection.
 * So a client is listed once per live transport, with its new transport at once after a switch
 * or a reconnection; a member whose last connection closed stays listed for the grace.
 */
export interface PresenceStore {
  readonly kind: string;
  /** Connects (Redis); resolves when usable. */
  init?(): Promise<void>;
  /** With `restore`, may answer 'superseded' (see the rule above); else never. */
  add(room: string, conn: PresenceConnection, expiresAt: number, restore?: boolean): Promise<PresenceAdded>;
  /**
   * A record's connection closed (see the rule above): resolves 'changed' when it removed it (an
   * unreleased record of its connection id lives), else 'none' (kept and marked released, or not
   * found). Never 'left'.
   */
  release(room: string, member: string, id: string): Promise<PresenceRemoved>;
  /** Removes record `id`; with `node`, only while that node holds it (else resolves 'none', removing nothing). */
  remove(room: string, member: string, id: string, node?: string): Promise<PresenceRemoved>;
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
