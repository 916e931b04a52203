import type { PresenceMember } from '../protocol/types.js';

const memberJson = new WeakMap<PresenceMember, string>();

/**
 * `JSON.stringify(value)` for a frame that carries a presence snapshot (`subscribed`, `ready`),
 * with `presence` last and each member's JSON memoized per member object. The members of a big
 * room's shared snapshot (PresenceTracker.snapshot) are the same objects for every arrival of a
 * second, so each is serialized once, not once per arrival: a hundred members, about 8 KB, made
 * anew for each of 50,000 arrivals was a quarter of what a WebSocket's connect cost. Members must
 * not change once listed (stores make new objects for every list).
 */
export function presenceFrameJson<T extends { presence: PresenceMember[] }>(value: T): string {
  const { presence, ...rest } = value;
  let list = '';
  for (const m of presence) {
    let json = memberJson.get(m);
    if (json === undefined) memberJson.set(m, (json = JSON.stringify(m)));
    list += list === '' ? json : `,${json}`;
  }
  const head = JSON.stringify(rest);
  return `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"presence":[${list}]}`;
}
