import type { PresenceMember, TransportName } from '../../protocol/types.js';
import { connectionIdOf, type GoneMember, type PresenceAdded, type PresenceConnection, type PresenceLookup, type PresenceRemoved, type PresenceStore } from './presence-store.js';

interface ConnRecord {
  id: string;
  transport: TransportName;
  node: string | undefined;
  expiresAt: number;
  /** Its connection closed; it stays for the grace unless its client comes back (PresenceStore.release). */
  released: boolean;
}

/**
 * A member of a room. Its connections are an array, not a Map: nearly every member has one or
 * two, and a Map per member was most of the primary's memory with 50,000 members (workers keep
 * every member of every worker here).
 */
interface MemberRecord {
  name: string;
  conns: ConnRecord[];
}

/** Presence of a single node, in memory (the default without Redis). */
export class MemoryPresenceStore implements PresenceStore {
  readonly kind = 'memory';
  private readonly rooms = new Map<string, Map<string, MemberRecord>>();

  async add(room: string, conn: PresenceConnection, expiresAt: number, restore = false): Promise<PresenceAdded> {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    let record = members.get(conn.member);
    const now = Date.now();
    const wasPresent = record !== undefined && anyLive(record, now);
    if (restore && record && record.conns.some((c) => supersedes(c, conn, now))) return 'superseded';
    if (!record) members.set(conn.member, (record = { name: conn.name, conns: [] }));
    const known = record.conns.find((c) => c.id === conn.id);
    const replaced = this.replaceOlder(record, conn, now);
    // What the room saw of this client before: this record, or the one it replaces.
    const before = known !== undefined && known.expiresAt > now ? (replaced.length === 0 ? known : undefined) : replaced.length === 1 ? replaced[0] : undefined;
    // The node is not compared: members are not shown it, and a poller's record moves between nodes.
    const same = before !== undefined && before.transport === conn.transport && record.name === conn.name;
    record.name = conn.name;
    if (known) Object.assign(known, { transport: conn.transport, node: conn.node, expiresAt, released: false });
    else record.conns.push({ id: conn.id, transport: conn.transport, node: conn.node, expiresAt, released: false });
    return !wasPresent ? 'arrived' : same ? 'unchanged' : 'changed';
  }

  async release(room: string, member: string, id: string): Promise<PresenceRemoved> {
    const record = this.rooms.get(room)?.get(member);
    const conn = record?.conns.find((c) => c.id === id);
    if (!record || !conn) return 'none';
    const now = Date.now();
    const client = connectionIdOf(id);
    if (!record.conns.some((c) => c !== conn && !c.released && c.expiresAt > now && connectionIdOf(c.id) === client)) {
      conn.released = true;
      return 'none';
    }
    record.conns.splice(record.conns.indexOf(conn), 1);
    return 'changed';
  }

  async remove(room: string, member: string, id: string, node?: string): Promise<PresenceRemoved> {
    const members = this.rooms.get(room);
    const record = members?.get(member);
    const at = record?.conns.findIndex((c) => c.id === id && (node === undefined || c.node === node)) ?? -1;
    if (!members || !record || at < 0) return 'none';
    record.conns.splice(at, 1);
    const now = Date.now();
    if (anyLive(record, now)) return 'changed';
    members.delete(member);
    if (members.size === 0) this.rooms.delete(room);
    return 'left';
  }

  async refresh<C extends { room: string; member: string; id: string }>(conns: C[], expiresAt: number, node?: string): Promise<C[]> {
    const missing: C[] = [];
    for (const c of conns) {
      const conn = this.rooms.get(c.room)?.get(c.member)?.conns.find((x) => x.id === c.id);
      if (conn && (node === undefined || conn.node === node)) conn.expiresAt = expiresAt;
      else missing.push(c);
    }
    return missing;
  }

  async members(room: string, now: number, limit = Infinity, nodes = false): Promise<PresenceMember[]> {
    const members = this.rooms.get(room);
    if (!members) return [];
    const out: PresenceMember[] = [];
    // No arrays per member on the way: a big room is listed at every subscribe.
    for (const [member, record] of members) {
      let transports: PresenceMember['transports'] | undefined;
      for (const c of record.conns) if (c.expiresAt > now) (transports ??= []).push(c.transport);
      if (!transports) continue;
      const m: PresenceMember = { member, name: record.name, transports };
      if (nodes) m.nodes = record.conns.filter((c) => c.expiresAt > now).map((c) => c.node ?? '');
      if (out.push(m) >= limit) break;
    }
    return out;
  }

  async lookup(room: string, members: readonly string[], now: number, cap: number): Promise<PresenceLookup> {
    const records = this.rooms.get(room);
    if (!records) return { count: 0, members: [] };
    let count = 0;
    for (const record of records.values()) if (anyLive(record, now) && ++count > cap) break;
    const found: PresenceMember[] = [];
    for (const member of members) {
      const record = records.get(member);
      const transports = record?.conns.filter((c) => c.expiresAt > now).map((c) => c.transport);
      if (record && transports?.length) found.push({ member, name: record.name, transports });
    }
    return { count, members: found };
  }

  async counts(rooms: string[], now: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const room of rooms) {
      let n = 0;
      for (const record of this.rooms.get(room)?.values() ?? []) if (anyLive(record, now)) n++;
      out.set(room, n);
    }
    return out;
  }

  async reap(now: number): Promise<GoneMember[]> {
    const gone: GoneMember[] = [];
    for (const [room, members] of this.rooms) {
      for (const [member, record] of members) {
        if (record.conns.length > 0 && record.conns.every((c) => c.expiresAt > now)) continue;
        const last = record.conns.at(-1)?.id ?? member;
        record.conns = record.conns.filter((c) => c.expiresAt > now);
        if (record.conns.length === 0) {
          members.delete(member);
          gone.push({ room, member, name: record.name, connectionId: last });
        }
      }
      if (members.size === 0) this.rooms.delete(room);
    }
    return gone;
  }

  async close(): Promise<void> {}

  /**
   * Removes the records `conn` replaces (see the rule in PresenceStore): the released ones of its
   * connection id, and its live ones on the same transport, but `conn` itself; returns the live
   * ones it removed.
   */
  private replaceOlder(record: MemberRecord, conn: PresenceConnection, now: number): readonly ConnRecord[] {
    // No array made on the way of the usual add (a poller moving between nodes: its one record).
    if (!record.conns.some((c) => c.id !== conn.id && (c.released || c.transport === conn.transport))) return NONE;
    const client = connectionIdOf(conn.id);
    const live: ConnRecord[] = [];
    record.conns = record.conns.filter((c) => {
      if (c.id === conn.id || !(c.released || c.transport === conn.transport) || connectionIdOf(c.id) !== client) return true;
      if (c.expiresAt > now) live.push(c);
      return false;
    });
    return live;
  }
}

const NONE: readonly ConnRecord[] = [];

/** A live record of `conn`'s connection id and transport, not `conn` itself: a reconnection that replaced it (an `add` with `restore` adds nothing). */
function supersedes(c: ConnRecord, conn: PresenceConnection, now: number): boolean {
  return c.id !== conn.id && !c.released && c.expiresAt > now && c.transport === conn.transport && connectionIdOf(c.id) === connectionIdOf(conn.id);
}

function anyLive(record: MemberRecord, now: number): boolean {
  for (const c of record.conns) if (c.expiresAt > now) return true;
  return false;
}
