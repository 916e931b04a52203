import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Principal } from '../src/server/auth/principal.js';
import { IntrusiveList, type Linked } from '../src/server/intrusive-list.js';
import { RoomChannel } from '../src/server/room-channel.js';
import { MemoryStore } from '../src/server/store/memory-store.js';
import { Limits, type Budget } from '../src/server/session/limits.js';
import type { OnceSubscriber } from '../src/server/subscriber.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

function oldSpaceUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
}

/**
 * Bytes promoted to the old generation per item, for items of ~1 KB that a long-lived structure
 * holds across one minor GC and lets go of before the next: what a held long poll does. Such
 * items die young; only what the structure leaves pointing at them (a Set's table made again as
 * it grew, now old and dead) makes the next minor GCs keep them and promote them.
 */
function promotedPerItem<T>(make: (payload: number[]) => T, hold: (item: T) => void, letGo: (item: T) => void): number {
  const N = 2000;
  const ROUNDS = 5;
  gc();
  gc();
  let grown = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let items: T[] = [];
    for (let i = 0; i < N; i++) items.push(make(new Array<number>(100).fill(i)));
    for (const item of items) hold(item);
    const before = oldSpaceUsed();
    gc({ type: 'minor' });
    for (const item of items) letGo(item);
    items = [];
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    grown += oldSpaceUsed() - before;
  }
  return grown / (N * ROUNDS);
}

interface Held extends OnceSubscriber {
  payload: number[];
}

function heldPoll(payload: number[]): Held {
  return { transport: 'long-polling', position: 0, listPrev: undefined, listNext: undefined, listOwner: undefined, payload, deliver() {}, historyReset() {} };
}

describe('young garbage: held long polls die young', () => {
  it("a room channel's held subscribers are not promoted once let go", () => {
    const channel = new RoomChannel('r', 'e', 0, new MemoryStore(), () => {});
    const promoted = promotedPerItem(heldPoll, (s) => channel.hold(s), (s) => channel.letGo(s));
    // Through a Set (the channel's subscribers): some 650 of each ~900 bytes.
    assert.ok(promoted < 100, `${promoted.toFixed(0)} bytes promoted per held subscriber`);
  });
});

describe('young garbage: a connection counted and released', () => {
  const rates = Object.fromEntries((['publish', 'typing', 'subscribe', 'create', 'rooms', 'connect', 'query', 'accessLog'] as Budget[]).map((b) => [b, { perSecond: 1, burst: 1 }])) as Record<Budget, { perSecond: number; burst: number }>;
  const guestAt = (address: string): Principal => ({ kind: 'guest', member: 'g', name: 'g', grants: {}, expiresAt: undefined, address }) as unknown as Principal;

  it('leaves nothing in the old generation: a poller\'s address goes to zero at each answer and back at its next poll', () => {
    const limits = new Limits({ rates, maxConnectionsPerAddress: 10, maxConnectionsPerMember: 10 });
    const poller = guestAt('203.0.113.7');
    limits.openConnection(poller);
    limits.closeConnection(poller);
    const N = 50_000;
    // The least of three windows: whatever else a minor GC promotes meanwhile (the test runner's
    // own objects) is a few bytes per connection in one window now and then, not in all three.
    let grown = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      gc();
      gc();
      const before = oldSpaceUsed();
      for (let i = 0; i < N; i++) {
        limits.openConnection(poller);
        limits.closeConnection(poller);
      }
      grown = Math.min(grown, (oldSpaceUsed() - before) / N);
    }
    // Deleting the address at zero: V8 shrinks the old Map's table at each delete, in the old
    // generation (some 54 bytes each, 158 per connection in all).
    assert.ok(grown < 20, `${grown.toFixed(1)} bytes of old generation per connection`);
  });

  it('still counts and caps each address, and forgets the addresses at zero once they are many', () => {
    const limits = new Limits({ rates, maxConnectionsPerAddress: 3, maxConnectionsPerMember: 10 });
    const a = guestAt('203.0.113.1');
    for (let i = 0; i < 3; i++) limits.openConnection(a);
    assert.throws(() => limits.openConnection(a), { code: 'TOO_MANY_CONNECTIONS_FROM_YOU' });
    limits.closeConnection(a);
    limits.openConnection(a);
    assert.equal(limits.openFrom(a.address), 3);
    // 100,000 other addresses come and go: the counts kept stay bounded, the open ones intact.
    for (let i = 0; i < 100_000; i++) {
      const p = guestAt(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      limits.openConnection(p);
      limits.closeConnection(p);
    }
    assert.ok(limits.addressesCounted() <= 2048, `${limits.addressesCounted()} addresses counted`);
    assert.equal(limits.openFrom(a.address), 3);
    assert.throws(() => limits.openConnection(a), { code: 'TOO_MANY_CONNECTIONS_FROM_YOU' });
    for (let i = 0; i < 3; i++) limits.closeConnection(a);
    assert.equal(limits.openFrom(a.address), 0);
    limits.closeConnection(a);
    assert.equal(limits.openFrom(a.address), 0, 'a release too many counts nothing below zero');
  });
});

describe('IntrusiveList', () => {
  interface Item extends Linked<Item> {
    n: number;
  }
  const item = (n: number): Item => ({ n, listPrev: undefined, listNext: undefined, listOwner: undefined });

  it('keeps members in the order they came, once each, and lets any of them go', () => {
    const list = new IntrusiveList<Item>();
    const [a, b, c, d] = [item(1), item(2), item(3), item(4)];
    list.add(a);
    list.add(b);
    list.add(c);
    list.add(b);
    assert.deepEqual([...list].map((i) => i.n), [1, 2, 3]);
    assert.equal(list.size, 3);
    assert.equal(list.delete(b), true);
    assert.equal(list.delete(b), false);
    assert.equal(list.delete(d), false);
    assert.equal(b.listNext ?? b.listPrev ?? b.listOwner, undefined, 'a member that left keeps no link');
    list.add(d);
    assert.equal(list.delete(a), true);
    assert.deepEqual([...list].map((i) => i.n), [3, 4]);
    assert.equal(list.has(c), true);
    assert.equal(list.has(a), false);
    assert.throws(() => new IntrusiveList<Item>().add(c), /one list at a time/);
    assert.deepEqual(list.clear().map((i) => i.n), [3, 4]);
    assert.equal(list.size, 0);
    assert.deepEqual([...list], []);
    list.add(c);
    assert.deepEqual([...list].map((i) => i.n), [3]);
  });

  it('lets a walk delete the member it is at', () => {
    const list = new IntrusiveList<Item>();
    const items = [item(1), item(2), item(3)];
    for (const i of items) list.add(i);
    const seen: number[] = [];
    list.forEach((i) => {
      seen.push(i.n);
      list.delete(i);
    });
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(list.size, 0);
    for (const i of items) list.add(i);
    for (const i of list) if (i.n !== 2) list.delete(i);
    assert.deepEqual([...list].map((i) => i.n), [2]);
  });
});
