import type { Entry, PresenceMember, PresenceNotice, TransportName } from '../protocol/types.js';
import { TRANSPORTS } from '../protocol/types.js';

/**
 * Members present in a room, as last known: a snapshot from the server (on subscribe, or
 * `GET /presence` for polling transports) updated by the `join` / `leave` entries that follow.
 * Entries replayed on a resume may be older than the snapshot; applied in log order they still
 * end in the right state, since a member's last entry matches its state in the snapshot.
 */
export class PresenceList {
  private readonly members = new Map<string, PresenceMember>();
  /** The list is a part of the room (a big room's snapshot). */
  private partial = false;
  /** The room's member count in the last change notice. */
  private count: number | undefined;

  /** The whole list (a snapshot, a `members` notice, a read); `partial` when the server said it is a part. */
  replace(list: readonly PresenceMember[], partial = false): void {
    this.members.clear();
    for (const m of list) this.set(m);
    this.partial = partial;
    this.count = undefined;
  }

  /** Applies a presence notice (the whole list, or a change); true when the list changed. */
  take(notice: PresenceNotice): boolean {
    if ('members' in notice) {
      this.replace(notice.members);
      return true;
    }
    let changed = false;
    for (const m of notice.changed) {
      const known = this.members.get(m.member);
      if (known && known.name === m.name && sameTransports(known.transports, m.transports)) continue;
      this.set(m);
      changed = true;
    }
    for (const member of notice.left) changed = this.members.delete(member) || changed;
    this.count = notice.count;
    return changed;
  }

  /**
   * True when this list may not be the room's: a part of a big room that shrank (a change came),
   * or another size than the count of the last change (a notice was missed). The whole list is
   * then worth a read (`GET /api/rooms/:room/presence`).
   */
  get doubtful(): boolean {
    return (this.partial && this.count !== undefined) || (this.count !== undefined && this.count !== this.members.size);
  }

  /** Applies a join or leave entry; true when the list changed. */
  apply(entry: Entry): boolean {
    const member = entry.from.member ?? entry.from.id;
    if (entry.type === 'leave') return this.members.delete(member);
    if (entry.type !== 'join') return false;
    const known = this.members.get(member);
    const transport = (TRANSPORTS as readonly string[]).includes(entry.from.transport ?? '') ? (entry.from.transport as TransportName) : undefined;
    if (known) {
      if (known.name === entry.from.name && (transport === undefined || known.transports.includes(transport))) return false;
      known.name = entry.from.name;
      if (transport !== undefined && !known.transports.includes(transport)) known.transports.push(transport);
      return true;
    }
    this.members.set(member, { member, name: entry.from.name, transports: transport ? [transport] : [] });
    return true;
  }

  private set(m: PresenceMember): void {
    this.members.set(m.member, { member: m.member, name: m.name, transports: [...m.transports] });
  }

  /** A copy, safe to hand to the application. */
  list(): PresenceMember[] {
    return [...this.members.values()].map((m) => ({ ...m, transports: [...m.transports] }));
  }
}

function sameTransports(a: readonly TransportName[], b: readonly TransportName[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((t, i) => t === sorted[i]);
}

/** The presence notice in a frame or event, or undefined when it is neither form (a malformed one is ignored). */
export function presenceNoticeOf(data: Record<string, unknown>): PresenceNotice | undefined {
  const room = String(data.room ?? '');
  if (Array.isArray(data.members)) return { room, members: data.members as PresenceMember[] };
  if (Array.isArray(data.changed) && Array.isArray(data.left) && typeof data.count === 'number') {
    return { room, changed: data.changed as PresenceMember[], left: data.left.map(String), count: data.count };
  }
  return undefined;
}
