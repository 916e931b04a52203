import type { Entry, PresenceMember, TransportName } from '../protocol/types.js';
import { TRANSPORTS } from '../protocol/types.js';

/**
 * Members present in a room, as last known: a snapshot from the server (on subscribe, or
 * `GET /presence` for polling transports) updated by the `join` / `leave` entries that follow.
 * Entries replayed on a resume may be older than the snapshot; applied in log order they still
 * end in the right state, since a member's last entry matches its state in the snapshot.
 */
export class PresenceList {
  private readonly members = new Map<string, PresenceMember>();

  replace(list: readonly PresenceMember[]): void {
    this.members.clear();
    for (const m of list) this.members.set(m.member, { member: m.member, name: m.name, transports: [...m.transports] });
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

  /** A copy, safe to hand to the application. */
  list(): PresenceMember[] {
    return [...this.members.values()].map((m) => ({ ...m, transports: [...m.transports] }));
  }
}
