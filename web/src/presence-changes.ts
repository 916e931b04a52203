import type { PresenceMember } from 'switchboard-client';

/** Who arrived and who went between two presence lists (by member id, names as shown). */
export interface PresenceChanges {
  joined: string[];
  left: string[];
}

/**
 * The difference of two presence lists. The server writes no `join` / `leave` entries by default
 * (one durable write per connection was what connecting cost): the app tells arrivals and
 * departures from the live presence notices instead.
 */
export function presenceChanges(before: readonly PresenceMember[], after: readonly PresenceMember[], me?: string): PresenceChanges {
  const was = new Map(before.map((m) => [m.member, m.name]));
  const now = new Map(after.map((m) => [m.member, m.name]));
  const joined = [...now].filter(([member]) => !was.has(member) && member !== me).map(([, name]) => name);
  const left = [...was].filter(([member]) => !now.has(member) && member !== me).map(([, name]) => name);
  return { joined, left };
}

/** Names shown before the rest are counted ("ann, bob and 6 others"). */
const NAMED = 2;

/**
 * One line for many arrivals or departures: "ann joined", "ann and bob joined", "ann, bob and 6
 * others joined"; '' when there are none.
 */
export function collapsedLine(names: readonly string[], verb: string): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} ${verb}`;
  if (names.length <= NAMED) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} ${verb}`;
  const others = names.length - NAMED;
  return `${names.slice(0, NAMED).join(', ')} and ${others === 1 ? '1 other' : `${others} others`} ${verb}`;
}
