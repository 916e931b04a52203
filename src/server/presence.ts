import type { PresenceMember, Sender, TransportName } from '../protocol/types.js';

/** One connection of a member to a room. */
export interface PresenceConnection {
  id: string;
  member: string;
  name: string;
  transport: TransportName;
}

interface MemberState {
  name: string;
  conns: Map<string, { transport: TransportName; expires: number }>;
  leaveTimer: NodeJS.Timeout | undefined;
}

/**
 * Who is in which room on this node. A member joins with its first connection and leaves
 * `graceMs` after its last one is gone, so a reconnect or a switch of transport within the grace
 * period makes no join/leave noise. Polling clients have no connection to lose: they are
 * `touch`ed by each request and expire `pollTtlMs` after their last one.
 * Joins and leaves are reported through `emit`, which the hub turns into log entries.
 */
export class PresenceTracker {
  private readonly rooms = new Map<string, Map<string, MemberState>>();

  constructor(
    private readonly emit: (room: string, type: 'join' | 'leave', from: Sender) => void,
    private readonly graceMs: number,
    private readonly pollTtlMs: number,
  ) {}

  /** A persistent connection (WebSocket, SSE) entered the room. */
  attach(room: string, conn: PresenceConnection): void {
    this.upsert(room, conn, Number.POSITIVE_INFINITY);
  }

  /** A polling request came in: the member is present until `pollTtlMs` from now. */
  touch(room: string, conn: PresenceConnection, now = Date.now()): void {
    this.upsert(room, conn, now + this.pollTtlMs);
  }

  /** A connection left the room (closed, unsubscribed, expired). */
  detach(room: string, connId: string, member: string): void {
    const state = this.rooms.get(room)?.get(member);
    if (!state || !state.conns.delete(connId) || state.conns.size > 0) return;
    state.leaveTimer = setTimeout(() => {
      state.leaveTimer = undefined;
      if (state.conns.size > 0) return;
      this.rooms.get(room)?.delete(member);
      this.emit(room, 'leave', { id: connId, name: state.name, member });
    }, this.graceMs);
    state.leaveTimer.unref();
  }

  /** Expires polling connections whose time is up. Called periodically. */
  sweep(now = Date.now()): void {
    for (const [room, members] of this.rooms) {
      for (const [member, state] of members) {
        for (const [connId, conn] of state.conns) if (conn.expires <= now) this.detach(room, connId, member);
      }
    }
  }

  members(room: string): PresenceMember[] {
    const members = this.rooms.get(room);
    if (!members) return [];
    return [...members].map(([member, s]) => ({ member, name: s.name, transports: [...s.conns.values()].map((c) => c.transport) }));
  }

  count(room: string): number {
    return this.rooms.get(room)?.size ?? 0;
  }

  /** Drops every timer (shutdown). */
  clear(): void {
    for (const members of this.rooms.values()) for (const s of members.values()) if (s.leaveTimer) clearTimeout(s.leaveTimer);
    this.rooms.clear();
  }

  private upsert(room: string, conn: PresenceConnection, expires: number): void {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    let state = members.get(conn.member);
    const isNew = state === undefined;
    if (!state) members.set(conn.member, (state = { name: conn.name, conns: new Map(), leaveTimer: undefined }));
    if (state.leaveTimer) {
      clearTimeout(state.leaveTimer);
      state.leaveTimer = undefined;
    }
    state.name = conn.name;
    state.conns.set(conn.id, { transport: conn.transport, expires });
    if (isNew) this.emit(room, 'join', { id: conn.id, name: conn.name, member: conn.member, transport: conn.transport });
  }
}
