import type { PresenceMember, Sender } from '../../protocol/types.js';
import type { Logger } from '../logger.js';
import type { PresenceConnection, PresenceLookup, PresenceStore } from './presence-store.js';

export type { PresenceConnection };

interface LocalConnection extends PresenceConnection {
  room: string;
  /** Polling clients have no connection to lose: they are present until this time. */
  pollUntil: number | undefined;
  leaveTimer: NodeJS.Timeout | undefined;
}

/** How long a long poller stays present past its poll's timeout without coming back. */
const HELD_POLL_GRACE_MS = 10_000;

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
 */
export class PresenceTracker {
  /** This node's connections, by room and connection id (no key string made per poll's touch). */
  private readonly local = new Map<string, Map<string, LocalConnection>>();
  /** The last snapshot of each room found to have more than its limit of members (snapshot). */
  private readonly bigRooms = new Map<string, { at: number; limit: number; list: Promise<PresenceMember[]> }>();

  constructor(
    private readonly store: PresenceStore,
    /** `join` / `leave`: a member arrived or left; `change`: its connections changed, it stays. */
    private readonly emit: (room: string, type: 'join' | 'leave' | 'change', from: Sender) => void,
    private readonly options: PresenceOptions,
    private readonly logger: Logger,
  ) {}

  /** A persistent connection (WebSocket, SSE) entered the room. */
  attach(room: string, conn: PresenceConnection): void {
    this.upsert(room, conn, undefined);
  }

  /**
   * A polling request came in: the member is present until `pollTtlMs` from now, or, for a long
   * poll held `holdMs`, until 10 s after its timeout when that is later (its answer then needs no
   * touch of its own, and a long hold does not outlast its member).
   */
  touch(room: string, conn: PresenceConnection, now = Date.now(), holdMs = 0): void {
    this.upsert(room, conn, now + Math.max(this.options.pollTtlMs, holdMs + HELD_POLL_GRACE_MS));
  }

  /** A connection left the room (closed, unsubscribed). The member leaves after the grace period unless it comes back. */
  detach(room: string, connId: string, _member?: string): void {
    const conn = this.local.get(room)?.get(connId);
    if (!conn || conn.leaveTimer) return;
    conn.leaveTimer = setTimeout(() => this.remove(conn), this.options.graceMs);
    conn.leaveTimer.unref();
  }

  /** Expires polling clients, refreshes this node's records, reaps members of dead nodes. Called every few seconds. */
  async tick(now = Date.now()): Promise<void> {
    const live: LocalConnection[] = [];
    for (const byId of this.local.values()) {
      for (const conn of byId.values()) {
        if (conn.pollUntil !== undefined && conn.pollUntil <= now && !conn.leaveTimer) this.remove(conn);
        else if (!conn.leaveTimer) live.push(conn);
      }
    }
    for (const [room, big] of this.bigRooms) if (now - big.at >= BIG_ROOM_SNAPSHOT_MS) this.bigRooms.delete(room);
    try {
      const expiresAt = now + this.options.ttlMs;
      for (const lost of await this.store.refresh(live, expiresAt)) {
        // Reaped while this node could not refresh it (a store outage): it is back, and says so.
        if (await this.store.add(lost.room, lost, expiresAt)) this.emit(lost.room, 'join', { id: lost.id, name: lost.name, member: lost.member, transport: lost.transport });
      }
      for (const gone of await this.store.reap(now)) {
        this.emit(gone.room, 'leave', { id: gone.connectionId, name: gone.name, member: gone.member });
      }
    } catch (err) {
      this.logger.warn({ err }, 'presence refresh failed');
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

  /** Everyone in `room` with the node of each connection (for administrators). */
  membersWithNodes(room: string): Promise<PresenceMember[]> {
    return this.store.members(room, Date.now(), undefined, true).catch(() => []);
  }

  /** Member counts of many rooms at once (room lists). */
  counts(rooms: string[]): Promise<Map<string, number>> {
    return this.store.counts(rooms, Date.now()).catch(() => new Map());
  }

  /** Members of one room: a count, not a list (a room of 20,000 is not listed to be counted). */
  async count(room: string): Promise<number> {
    return (await this.counts([room])).get(room) ?? 0;
  }

  /** Drops every timer (shutdown). */
  clear(): void {
    for (const byId of this.local.values()) for (const c of byId.values()) if (c.leaveTimer) clearTimeout(c.leaveTimer);
    this.local.clear();
    this.bigRooms.clear();
  }

  private upsert(room: string, conn: PresenceConnection, pollUntil: number | undefined): void {
    let byId = this.local.get(room);
    if (!byId) this.local.set(room, (byId = new Map()));
    const existing = byId.get(conn.id);
    if (existing) {
      if (existing.leaveTimer) clearTimeout(existing.leaveTimer);
      existing.leaveTimer = undefined;
      existing.pollUntil = pollUntil;
      if (existing.name === conn.name && existing.transport === conn.transport) return;
    }
    const record: PresenceConnection = { ...conn, node: this.options.node };
    const local: LocalConnection = { ...record, room, pollUntil, leaveTimer: undefined };
    byId.set(conn.id, local);
    this.store
      .add(room, record, Date.now() + this.options.ttlMs)
      .then((arrived) => this.emit(room, arrived ? 'join' : 'change', { id: conn.id, name: conn.name, member: conn.member, transport: conn.transport }))
      .catch((err: unknown) => this.logger.warn({ err, room }, 'presence add failed'));
  }

  private remove(conn: LocalConnection): void {
    const byId = this.local.get(conn.room);
    if (byId?.get(conn.id) !== conn) return;
    byId.delete(conn.id);
    if (byId.size === 0) this.local.delete(conn.room);
    this.store
      .remove(conn.room, conn.member, conn.id)
      .then((left) => this.emit(conn.room, left ? 'leave' : 'change', { id: conn.id, name: conn.name, member: conn.member }))
      .catch((err: unknown) => this.logger.warn({ err, room: conn.room }, 'presence remove failed'));
  }
}

/** How long a big room's snapshot serves its subscribers (PresenceTracker.snapshot). */
export const BIG_ROOM_SNAPSHOT_MS = 1000;

