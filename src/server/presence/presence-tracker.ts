import type { PresenceMember, Sender } from '../../protocol/types.js';
import type { Logger } from '../logger.js';
import { LogLimiter } from '../session/log-limiter.js';
import { connectionIdOf, type PresenceConnection, type PresenceLookup, type PresenceStore } from './presence-store.js';

export type { PresenceConnection };

interface LocalConnection extends PresenceConnection {
  room: string;
  /** Polling clients have no connection to lose: they are present until this time. */
  pollUntil: number | undefined;
  leaveTimer: NodeJS.Timeout | undefined;
}

/** How long a long poller stays present past its poll's timeout without coming back. */
const HELD_POLL_GRACE_MS = 10_000;

/**
 * How long after a polling client's leave its polls bring it back nothing: a poll sent before
 * the leave may reach the server, or be answered, after it (another connection; a room read
 * between its arrival and its touch). A client that really comes back (a page restored from the
 * back-forward cache) is present again from its first poll after this.
 */
export const POLL_STRAGGLER_MS = 1000;

export interface PresenceOptions {
  /** A member leaves this long after its last connection closed (so a reconnect makes no noise). */
  graceMs: number;
  /** A polling client is present this long after its last request. */
  pollTtlMs: number;
  /** Records in the shared store expire this long after the last refresh (a dead node's members leave then). */
  ttlMs: number;
  /** This node's name, recorded with each of its connections (PresenceMember.nodes). */
  node: string;
}

/**
 * This node's side of presence. It knows the connections it holds, records them in the
 * PresenceStore (shared by every node with Redis), refreshes them on `tick`, and turns arrivals
 * and departures into `join` / `leave` through `emit` (the hub writes them to the room log).
 *
 * A polling client holds no connection, and its requests may reach any node: its record is held
 * by the node that saw its latest poll, which records it under its name when it does not hold it.
 * The copy of any other node, which its next `tick` finds held elsewhere or gone, is dropped
 * there: neither refreshed nor removed from the store. A record that moves between nodes that way
 * (a poller whose requests alternate between workers) is news to its room only when the store
 * finds it changed: a join the first time, a change when its name or transport changed.
 *
 * Connections are known by record id (recordId): a WebSocket or SSE connection's own, a polling
 * client's that of its ticket. One client may hold several records of one connection id (two
 * transports at once): one that closes is released in the store at once, which removes it then
 * when another of them lives (a transport switch shows the new transport only, at once), else
 * keeps it for the grace (PresenceStore.release).
 */
export class PresenceTracker {
  /** This node's connections, by room and record id (no key string made per poll's touch). */
  private readonly local = new Map<string, Map<string, LocalConnection>>();
  /** Leaves due of polling clients this node holds no copy of, by room and connection (one each however often a leave is sent: see detach). */
  private readonly leaving = new Map<string, NodeJS.Timeout>();
  /** Polling clients' leaves of the last POLL_STRAGGLER_MS, by room and record (`room\nid`): when each came. */
  private readonly recentLeaves = new Map<string, number>();
  /**
   * The store's failures, one line per kind every 10 s with the number held back: while the store
   * is away (Redis down, the primary of `--workers` gone), every connection that opens or closes
   * fails, and 50,000 of them were as many lines with their stacks.
   */
  private readonly failures: LogLimiter;
  /**
   * When the records of this node's persistent connections were last refreshed (tick's clock):
   * they are refreshed once half their time to live went by, not at every tick.
   */
  private heldRefreshedAt = Number.NEGATIVE_INFINITY;
  /** The last snapshot of each room found to have more than its limit of members (snapshot). */
  private readonly bigRooms = new Map<string, { at: number; limit: number; list: Promise<PresenceMember[]> }>();

  constructor(
    private readonly store: PresenceStore,
    /** `join` / `leave`: a member arrived or left; `change`: its connections changed, it stays. */
    private readonly emit: (room: string, type: 'join' | 'leave' | 'change', from: Sender) => void,
    private readonly options: PresenceOptions,
    private readonly logger: Logger,
  ) {
    this.failures = new LogLimiter(logger, 1, 10_000);
  }

  /** A persistent connection (WebSocket, SSE) entered the room; `conn.id` is its own record id (recordId with an attachment). */
  attach(room: string, conn: PresenceConnection): void {
    this.upsert(room, conn, undefined);
  }

  /**
   * A polling request came in: the member is present until `pollTtlMs` from now, or, for a long
   * poll held `holdMs`, until 10 s after its timeout when that is later (its answer then needs no
   * touch of its own, and a long hold does not outlast its member). This node holds the record
   * from now on: it writes it to the store unless it has a copy of the same transport already.
   */
  touch(room: string, conn: PresenceConnection, now = Date.now(), holdMs = 0): void {
    // A poll sent before its client's leave, come after it: not a return (POLL_STRAGGLER_MS).
    if (this.recentLeaves.size > 0) {
      const key = `${room}\n${conn.id}`;
      const leftAt = this.recentLeaves.get(key);
      if (leftAt !== undefined) {
        if (now - leftAt < POLL_STRAGGLER_MS) return;
        this.recentLeaves.delete(key);
      }
    }
    this.upsert(room, conn, now + Math.max(this.options.pollTtlMs, holdMs + HELD_POLL_GRACE_MS));
  }

  /**
   * A connection left the room (closed, unsubscribed, or a polling client's leave). The member
   * leaves after the grace period unless it comes back. A polling client's leave (`poller`: who it
   * is) may reach a node that holds no copy of it, its polls having gone to another: the record is
   * removed from the store all the same, after the grace period.
   */
  detach(room: string, connId: string, poller?: { member: string; name: string }): void {
    if (poller) this.recentLeaves.set(`${room}\n${connId}`, Date.now());
    const conn = this.local.get(room)?.get(connId);
    if (!conn) {
      const key = `${room}\n${connId}`;
      if (!poller || this.leaving.has(key)) return;
      const gone = { id: connId, member: poller.member, name: poller.name };
      const timer = setTimeout(() => {
        this.leaving.delete(key);
        this.unstore(room, gone);
      }, this.options.graceMs);
      timer.unref();
      this.leaving.set(key, timer);
      this.release(room, gone, () => this.leaving.get(key) === timer && this.cancelLeave(key));
      return;
    }
    if (conn.leaveTimer) return;
    // A persistent connection is removed only while this node holds it: a client that came back
    // on another node within the grace period with the same connection (an SSE or WebSocket
    // reconnection elsewhere: no sticky sessions) is held there now, and stays. A polling
    // client's leave is its own word, wherever its latest poll went.
    const holder = conn.pollUntil === undefined ? this.options.node : undefined;
    const timer = setTimeout(() => this.remove(conn, holder), this.options.graceMs);
    timer.unref();
    conn.leaveTimer = timer;
    this.release(room, conn, () => {
      // Unless it came back meanwhile (upsert cleared the timer and recorded it again).
      if (conn.leaveTimer !== timer) return;
      clearTimeout(timer);
      this.drop(conn);
    });
  }

  /**
   * Expires polling clients, refreshes this node's records, drops its copies of polling clients
   * another node holds now, reaps members of dead nodes. Called every few seconds.
   *
   * The records of polling clients are refreshed at every tick: that is how a copy another node
   * took over is found and dropped. Those of persistent connections (WebSocket, SSE), which no
   * other node holds, once half of `ttlMs` went by since their last refresh (15 s of 30): at
   * every tick (5 s) they were most of the store's work while idle (50,000 connections over three
   * workers: a refresh of 40,000 records every 5 s through the primary, plus their IPC), and a
   * record refreshed that often lives no longer. One found gone (a store outage, a reconnection
   * elsewhere) is then found at most that much later.
   */
  async tick(now = Date.now()): Promise<void> {
    const held: LocalConnection[] = [];
    const polled: LocalConnection[] = [];
    const refreshHeld = now - this.heldRefreshedAt >= this.options.ttlMs / 2;
    for (const byId of this.local.values()) {
      for (const conn of byId.values()) {
        if (conn.leaveTimer) continue;
        if (conn.pollUntil === undefined) {
          if (refreshHeld) held.push(conn);
        }
        // Removed only if still held here: a poll on another node since keeps the member there.
        else if (conn.pollUntil <= now) this.remove(conn, this.options.node);
        else polled.push(conn);
      }
    }
    for (const [room, big] of this.bigRooms) if (now - big.at >= BIG_ROOM_SNAPSHOT_MS) this.bigRooms.delete(room);
    for (const [key, at] of this.recentLeaves) if (now - at >= POLL_STRAGGLER_MS) this.recentLeaves.delete(key);
    try {
      const expiresAt = now + this.options.ttlMs;
      // Held by another node now, removed by one (the client left), or reaped in a store outage:
      // kept, this copy would bring a departed client back or remove one still polling. A client
      // still polling here is recorded again by its next poll, which tells its room nothing when
      // the store has it as it is (add: 'unchanged').
      for (const moved of await this.store.refresh(polled, expiresAt, this.options.node)) if (!moved.leaveTimer) this.drop(moved);
      const lostHeld = refreshHeld ? await this.store.refresh(held, expiresAt) : [];
      if (refreshHeld) this.heldRefreshedAt = now;
      for (const lost of lostHeld) {
        // Reaped while this node could not refresh it (a store outage): it is back, and says so,
        // as upsert does: a join, or a change when the member kept another connection (its room
        // may have been told the member as it was without this one meanwhile). Or replaced by its
        // client's reconnection, here or on another node, before this node saw the old connection
        // close (a socket dead without a word): that one is the client now, and this copy goes
        // (taken back, the two nodes would take the record from each other at each tick).
        const added = await this.store.add(lost.room, lost, expiresAt, true);
        if (added === 'superseded') this.drop(lost);
        else if (added !== 'unchanged') this.emit(lost.room, added === 'arrived' ? 'join' : 'change', { id: connectionIdOf(lost.id), name: lost.name, member: lost.member, transport: lost.transport });
      }
      for (const gone of await this.store.reap(now)) {
        this.emit(gone.room, 'leave', { id: connectionIdOf(gone.connectionId), name: gone.name, member: gone.member });
      }
    } catch (err) {
      this.failures.warn('refresh', { err }, 'presence refresh failed');
    }
  }

  /** Who is in `room`: all, or at least `limit` of them when there are that many (a store may list more). */
  members(room: string, limit?: number): Promise<PresenceMember[]> {
    return this.store.members(room, Date.now(), limit).catch(() => []);
  }

  /**
   * The snapshot a subscriber gets: `members(room, limit)`, except in a room found to have more
   * than `limit` members, where one read is shared by every subscriber for BIG_ROOM_SNAPSHOT_MS.
   * Such a snapshot is a part of the room anyway (presence notices are off there); reading it
   * once per arrival was one store read (one round trip to the primary, with workers) and one
   * copy of a hundred members per connection, 50,000 of them when 50,000 connect.
   */
  snapshot(room: string, limit: number): Promise<PresenceMember[]> {
    const now = Date.now();
    const big = this.bigRooms.get(room);
    if (big && big.limit >= limit && now - big.at < BIG_ROOM_SNAPSHOT_MS) return big.list;
    const list = this.members(room, limit);
    void list.then((members) => {
      if (members.length >= limit) this.bigRooms.set(room, { at: now, limit, list });
      else this.bigRooms.delete(room);
    });
    return list;
  }

  /** What a presence notice needs: these members as they are now, and the room's count (exact up to `cap`). Rejects when the store cannot answer. */
  lookup(room: string, members: readonly string[], cap: number): Promise<PresenceLookup> {
    return this.store.lookup(room, members, Date.now(), cap);
  }

  /** As `members`, each member with the node of each connection (for administrators). */
  membersWithNodes(room: string, limit?: number): Promise<PresenceMember[]> {
    return this.store.members(room, Date.now(), limit, true).catch(() => []);
  }

  /** Member counts of many rooms at once (room lists). */
  counts(rooms: string[]): Promise<Map<string, number>> {
    return this.store.counts(rooms, Date.now()).catch(() => new Map());
  }

  /** Members of one room: a count, not a list (a room of 20,000 is not listed to be counted). */
  async count(room: string): Promise<number> {
    return (await this.counts([room])).get(room) ?? 0;
  }

  /**
   * An administrator disconnected `member` (from `room`, or from every room): the polling
   * connections of it this node holds leave now. A poller holds no connection for the order to
   * end, and would otherwise stay present until its polls' time ran out. (Every node hears the
   * order: each removes those it holds; a WebSocket or SSE connection leaves as it closes.)
   */
  dropPollers(member: string, room?: string): void {
    for (const [r, byId] of this.local) {
      if (room !== undefined && r !== room) continue;
      for (const conn of [...byId.values()]) if (conn.member === member && conn.pollUntil !== undefined) this.remove(conn);
    }
  }

  /** Drops every timer (shutdown). */
  clear(): void {
    for (const byId of this.local.values()) for (const c of byId.values()) if (c.leaveTimer) clearTimeout(c.leaveTimer);
    for (const timer of this.leaving.values()) clearTimeout(timer);
    this.local.clear();
    this.leaving.clear();
    this.recentLeaves.clear();
    this.bigRooms.clear();
  }

  private upsert(room: string, conn: PresenceConnection, pollUntil: number | undefined): void {
    // Released in the store (its leave was on): recorded again, which ends that.
    let released = this.leaving.size > 0 && this.cancelLeave(`${room}\n${conn.id}`);
    let byId = this.local.get(room);
    if (!byId) this.local.set(room, (byId = new Map()));
    const existing = byId.get(conn.id);
    if (existing) {
      if (existing.leaveTimer) {
        clearTimeout(existing.leaveTimer);
        released = true;
      }
      existing.leaveTimer = undefined;
      existing.pollUntil = pollUntil;
      // Held here as it is: no store call (a poll's touch, every request of a poller).
      if (!released && existing.name === conn.name && existing.transport === conn.transport) return;
    }
    const record: PresenceConnection = { ...conn, node: this.options.node };
    const local: LocalConnection = { ...record, room, pollUntil, leaveTimer: undefined };
    byId.set(conn.id, local);
    // Only the store knows whether the room saw this before: a poller's record taken over from
    // another node (or back) as it was there is 'unchanged', and its room is told nothing.
    this.store
      .add(room, record, Date.now() + this.options.ttlMs)
      .then((added) => added !== 'unchanged' && this.emit(room, added === 'arrived' ? 'join' : 'change', { id: connectionIdOf(conn.id), name: conn.name, member: conn.member, transport: conn.transport }))
      .catch((err: unknown) => this.failures.warn('add', { err, room }, 'presence add failed'));
  }

  /** A polling client left and came back within the grace period: its leave is off. True when one was. */
  private cancelLeave(key: string): boolean {
    const timer = this.leaving.get(key);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.leaving.delete(key);
    return true;
  }

  /**
   * A connection closed: released in the store, which removes it at once when another record of
   * its connection id lives ('changed': its room is told, and `removed` ends the grace here), else
   * keeps it for the grace (whose timer `remove`s it).
   */
  private release(room: string, conn: { id: string; member: string; name: string }, removed: () => void): void {
    this.store
      .release(room, conn.member, conn.id)
      .then((released) => {
        if (released !== 'changed') return;
        removed();
        this.emit(room, 'change', { id: connectionIdOf(conn.id), name: conn.name, member: conn.member });
      })
      .catch((err: unknown) => this.failures.warn('release', { err, room }, 'presence release failed'));
  }

  /** Drops this node's copy and removes the record from the store (with `node`: only while that node holds it). */
  private remove(conn: LocalConnection, node?: string): void {
    if (this.drop(conn)) this.unstore(conn.room, conn, node);
  }

  /** Drops this node's copy, unless a newer one replaced it; true when it did. */
  private drop(conn: LocalConnection): boolean {
    const byId = this.local.get(conn.room);
    if (byId?.get(conn.id) !== conn) return false;
    byId.delete(conn.id);
    if (byId.size === 0) this.local.delete(conn.room);
    return true;
  }

  private unstore(room: string, conn: { id: string; member: string; name: string }, node?: string): void {
    this.store
      .remove(room, conn.member, conn.id, node)
      // Nothing removed (another node holds it, or removed it first): nothing to tell.
      .then((removed) => removed !== 'none' && this.emit(room, removed === 'left' ? 'leave' : 'change', { id: connectionIdOf(conn.id), name: conn.name, member: conn.member }))
      .catch((err: unknown) => this.failures.warn('remove', { err, room }, 'presence remove failed'));
  }
}

/** How long a big room's snapshot serves its subscribers (PresenceTracker.snapshot). */
export const BIG_ROOM_SNAPSHOT_MS = 1000;

