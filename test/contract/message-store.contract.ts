import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { SwitchboardError, type ErrorCode } from '../../src/protocol/errors.js';
import type { Entry, EntryDraft, JsonValue, MessageDraft, MessageEntry, Sender } from '../../src/protocol/types.js';
import { MAX_READ_POSITIONS, type MessageStore, type RoomState } from '../../src/server/store/message-store.js';
import { TICKET_MAX_AGE_MS } from '../../src/server/session/presence-ticket.js';

/**
 * What a store's test file hands the contract. `make` is called once per test and returns an
 * initialised store on a fresh, empty backend. `reopen`, when the backend outlives a store
 * instance (a file, a server), returns another initialised instance on the same backend.
 * `cleanup` closes every instance (close must be idempotent) and removes the backend's data.
 */
export interface StoreFixture {
  store: MessageStore;
  reopen?: () => Promise<MessageStore>;
  cleanup: () => Promise<void>;
  /**
   * Its appends are committed by another connection (SqliteStoreOptions.appendVia), so it cannot
   * hold what it appended in memory: readAfterNow then owes nothing but to agree with readAfter.
   */
  appendsElsewhere?: boolean;
}

const alice: Sender = { id: 'conn-1', name: 'alice' };
const bob: Sender = { id: 'conn-2', name: 'bob' };

function draft(room: string, text: string, clientId?: string, from: Sender = alice): EntryDraft {
  return clientId === undefined ? { type: 'message', room, from, text } : { type: 'message', room, from, text, clientId };
}

async function assertCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SwitchboardError, `expected a SwitchboardError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

async function appendMany(store: MessageStore, room: string, n: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) out.push((await store.append(draft(room, `m${i}`))).entry);
  return out;
}

const seqs = (entries: Entry[]): number[] => entries.map((e) => e.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Every room, read a page of 7 at a time (so the paging itself is exercised), checking each page's order. */
async function allRooms(store: MessageStore): Promise<RoomState[]> {
  const out: RoomState[] = [];
  for (let page = await store.listRooms({ limit: 7 }); ; page = await store.listRooms({ after: page.next, limit: 7 })) {
    assert.ok(page.rooms.length <= 7);
    out.push(...page.rooms);
    if (page.next === undefined) break;
  }
  const names = out.map((r) => r.name);
  assert.deepEqual(names, [...names].sort(), 'rooms come by name');
  return out;
}

const FAR = { maxEntries: 1_000_000, maxAgeMs: 365 * 24 * 3600 * 1000 };

/** The MessageStore contract (see message-store.ts), as a suite every implementation must pass. */
/** `durable`: the backend outlives a store instance (SQLite, Redis), so the reopen tests apply. */
export function messageStoreContract(name: string, make: () => Promise<StoreFixture>, durable = true): void {
  async function withStore(fn: (fixture: StoreFixture) => Promise<void>): Promise<void> {
    const fixture = await make();
    try {
      await fn(fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`MessageStore contract: ${name}`, () => {
    it('folds edits and reactions into the target; toggles; the 20-emoji limit; amendments are idempotent per sender', () =>
      withStore(async ({ store, reopen }) => {
        await store.createRoom('r');
        const m = (await store.append({ type: 'message', room: 'r', from: alice, text: 'first', data: { keep: [] } })).entry;
        await store.append({ type: 'join', room: 'r', from: bob });
        const edit = await store.append({ type: 'edit', room: 'r', from: alice, target: m.seq, text: 'second', clientId: 'e1' });
        assert.deepEqual(edit.entry, { type: 'edit', room: 'r', seq: 3, ts: edit.entry.ts, from: alice, target: 1, clientId: 'e1', text: 'second' });
        const dup = await store.append({ type: 'edit', room: 'r', from: alice, target: m.seq, text: 'second', clientId: 'e1' });
        assert.deepEqual([dup.duplicate, dup.entry.seq], [true, 3]);
        const on = await store.append({ type: 'reaction', room: 'r', from: bob, target: m.seq, emoji: '👍' });
        assert.equal(on.entry.type === 'reaction' && on.entry.on, true, 'a toggle with none there adds');
        const retry = await store.append({ type: 'reaction', room: 'r', from: { ...alice, member: 'al' }, target: m.seq, emoji: '🎉', clientId: 't1' });
        const again = await store.append({ type: 'reaction', room: 'r', from: { ...alice, member: 'al' }, target: m.seq, emoji: '🎉', clientId: 't1' });
        assert.deepEqual([again.duplicate, again.entry.seq], [true, retry.entry.seq], 'a retried toggle is stored once');
        const off = await store.append({ type: 'reaction', room: 'r', from: bob, target: m.seq, emoji: '👍' });
        assert.equal(off.entry.type === 'reaction' && off.entry.on, false, 'the second toggle takes it back');
        const folded = await store.readMessage('r', m.seq);
        assert.deepEqual(folded, {
          type: 'message', room: 'r', seq: 1, ts: m.ts, from: alice, text: 'second', data: { keep: [] },
          edited: { seq: 3, ts: edit.entry.ts }, reactions: [{ emoji: '🎉', count: 1, by: [{ member: 'al', name: 'alice' }] }], folded: off.entry.seq,
        });
        assert.deepEqual((await store.readAfter('r', 0, 1))[0], folded, 'reads return the message folded');
        await assertCode(store.append({ type: 'edit', room: 'r', from: alice, target: 2, text: 'x' }), 'MESSAGE_NOT_FOUND');
        await assertCode(store.append({ type: 'edit', room: 'r', from: alice, target: 99, text: 'x' }), 'MESSAGE_NOT_FOUND');
        await assertCode(store.append({ type: 'reaction', room: 'r', from: alice, target: 3, emoji: 'x' }), 'MESSAGE_NOT_FOUND');
        for (let i = 0; i < 19; i++) await store.append({ type: 'reaction', room: 'r', from: alice, target: m.seq, emoji: `e${i}`, on: true });
        await assertCode(store.append({ type: 'reaction', room: 'r', from: bob, target: m.seq, emoji: 'e99' }), 'REACTION_LIMIT');
        const stillOne = await store.append({ type: 'reaction', room: 'r', from: bob, target: m.seq, emoji: 'e0', on: true });
        assert.equal(stillOne.duplicate, false);
        assert.equal((await store.readMessage('r', m.seq))!.reactions!.find((x) => x.emoji === 'e0')!.count, 2);
        if (reopen) assert.deepEqual((await (await reopen()).readMessage('r', m.seq))!.text, 'second');
      }));

    it('a delete erases the message, the text of its edits and the previews quoting it; replies quote the message as it is', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        const m = (await store.append({ type: 'message', room: 'r', from: alice, text: 'x'.repeat(250), event: 'ev', data: 1 })).entry;
        const reply1 = (await store.append({ type: 'message', room: 'r', from: bob, text: 're', replyTo: m.seq })).entry;
        assert.ok(reply1.type === 'message');
        assert.deepEqual(reply1.reply, { seq: 1, from: { name: 'alice' }, text: 'x'.repeat(200) });
        const edit = (await store.append({ type: 'edit', room: 'r', from: alice, target: m.seq, text: 'secret words' })).entry;
        const reply2 = (await store.append({ type: 'message', room: 'r', from: bob, text: 're2', replyTo: m.seq })).entry;
        assert.ok(reply2.type === 'message' && reply2.reply?.text === 'secret words');
        await store.append({ type: 'reaction', room: 'r', from: bob, target: m.seq, emoji: '👍' });
        const keyedReply = (await store.append({ type: 'message', room: 'r', from: bob, text: 're3', replyTo: m.seq, clientId: 'rk' })).entry;
        assert.equal((await store.search('r', { words: ['secr'], limit: 10 })).results.length, 1);
        const del = (await store.append({ type: 'delete', room: 'r', from: alice, target: m.seq, clientId: 'd' })).entry;
        const all = await store.readAfter('r', 0, 100);
        assert.deepEqual(all[0], { type: 'message', room: 'r', seq: 1, ts: m.ts, from: alice, text: '', deleted: true, edited: { seq: edit.seq, ts: edit.ts }, folded: del.seq });
        assert.deepEqual(all.find((e) => e.seq === edit.seq), { ...edit, text: '' });
        for (const r of [reply1, reply2]) assert.deepEqual((all.find((e) => e.seq === r.seq) as MessageEntry).reply, { seq: 1, from: { name: 'alice' }, text: '', deleted: true });
        assert.ok(!JSON.stringify(all).includes('secret'), 'no trace of the text in any read');
        assert.deepEqual((await store.search('r', { words: ['secr'], limit: 10 })).results, []);
        await assertCode(store.append({ type: 'edit', room: 'r', from: alice, target: m.seq, text: 'y' }), 'MESSAGE_DELETED');
        await assertCode(store.append({ type: 'message', room: 'r', from: alice, text: 'y', replyTo: m.seq }), 'MESSAGE_DELETED');
        const retried = await store.append({ type: 'delete', room: 'r', from: alice, target: m.seq, clientId: 'd' });
        assert.deepEqual([retried.duplicate, retried.entry.seq], [true, del.seq], 'a retried delete is a duplicate, not MESSAGE_DELETED');
        const retriedReply = await store.append({ type: 'message', room: 'r', from: bob, text: 're3', replyTo: m.seq, clientId: 'rk' });
        assert.deepEqual([retriedReply.duplicate, retriedReply.entry.seq], [true, keyedReply.seq], 'a retried reply is a duplicate, not MESSAGE_DELETED');
        // Retention and reset keep working around erased entries.
        await store.trim({ ...FAR, maxEntries: 2 }, Date.now());
        assert.deepEqual(seqs(await store.readAfter('r', 0, 100)), [del.seq - 1, del.seq]);
        assert.equal(await store.readMessage('r', m.seq), undefined);
      }));

    it('read positions only move forward, are clamped to lastSeq, listed furthest first, and go with a reset', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await appendMany(store, 'r', 5);
        assert.equal(await store.getReadPosition('r', 'ann'), 0);
        assert.deepEqual(await store.setReadPosition('r', 'ann', 'Ann', 3), { seq: 3, previous: 0 });
        assert.deepEqual(await store.setReadPosition('r', 'ann', 'Ann', 2), { seq: 3, previous: 3 });
        assert.deepEqual(await store.setReadPosition('r', 'bob', 'Bob', 99), { seq: 5, previous: 0 });
        assert.deepEqual(await store.listReadPositions('r', 10), [{ member: 'bob', name: 'Bob', seq: 5 }, { member: 'ann', name: 'Ann', seq: 3 }]);
        assert.deepEqual(await store.listReadPositions('r', 1), [{ member: 'bob', name: 'Bob', seq: 5 }]);
        await assertCode(store.setReadPosition('nope', 'ann', 'Ann', 1), 'ROOM_NOT_FOUND');
        await store.resetRoom('r');
        assert.deepEqual(await store.listReadPositions('r', 10), []);
      }));

    it('a room keeps at most MAX_READ_POSITIONS read positions: a new one past them forgets the lowest; a new member at 0 is not stored', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await appendMany(store, 'r', 3);
        // A client marking read under a new name each time (a guest claiming members, a keyed server's HTTP guests).
        assert.deepEqual(await store.setReadPosition('r', 'nobody', 'Nobody', 0), { seq: 0, previous: 0 });
        assert.deepEqual(await store.listReadPositions('r', 10), [], 'a position of 0 costs nothing');
        await store.setReadPosition('r', 'low', 'Low', 1);
        for (let i = 0; i < MAX_READ_POSITIONS - 1; i += 200) {
          await Promise.all(Array.from({ length: Math.min(200, MAX_READ_POSITIONS - 1 - i) }, (_, k) => store.setReadPosition('r', `m${i + k}`, `M${i + k}`, 2)));
        }
        assert.equal((await store.listReadPositions('r', MAX_READ_POSITIONS + 10)).length, MAX_READ_POSITIONS);
        assert.equal(await store.getReadPosition('r', 'low'), 1);
        // One more member: the lowest goes. Moving a known member on forgets no one.
        assert.deepEqual(await store.setReadPosition('r', 'ann', 'Ann', 3), { seq: 3, previous: 0 });
        assert.deepEqual(await store.setReadPosition('r', 'm0', 'M0', 3), { seq: 3, previous: 2 });
        const kept = await store.listReadPositions('r', MAX_READ_POSITIONS + 10);
        assert.equal(kept.length, MAX_READ_POSITIONS);
        assert.equal(await store.getReadPosition('r', 'low'), 0, 'the lowest position was forgotten');
        assert.deepEqual(kept.slice(0, 2).map((p) => p.member).sort(), ['ann', 'm0']);
        assert.equal(await store.getReadPosition('r', 'ann'), 3);
      }));

    it('searches current text by word prefixes, newest first, with before, limit and more', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await store.createRoom('other');
        await store.append(draft('other', 'apple pie'));
        const a = (await store.append(draft('r', 'Apple pie'))).entry;
        const b = (await store.append(draft('r', 'an apple tart, crème'))).entry;
        const c = (await store.append(draft('r', 'pineapple'))).entry;
        const d = (await store.append(draft('r', 'APPLES and pies'))).entry;
        const page = await store.search('r', { words: ['appl'], limit: 2 });
        assert.deepEqual([seqs(page.results), page.more, page.complete], [[d.seq, b.seq], true, true]);
        assert.deepEqual(seqs((await store.search('r', { words: ['appl'], limit: 2, before: b.seq })).results), [a.seq]);
        assert.deepEqual(seqs((await store.search('r', { words: ['pie', 'apple'], limit: 10 })).results), [d.seq, a.seq]);
        assert.deepEqual(seqs((await store.search('r', { words: ['creme'], limit: 10 })).results), [b.seq]);
        assert.deepEqual((await store.search('r', { words: ['pineapples'], limit: 10 })).results, []);
        void c;
      }));

    it('creates, gets and lists rooms; a second create keeps the epoch', () =>
      withStore(async ({ store }) => {
        assert.equal(await store.getRoom('lobby'), undefined);
        const first = await store.createRoom('lobby');
        assert.equal(first.created, true);
        assert.equal(typeof first.state.epoch, 'string');
        assert.ok(first.state.epoch.length > 0);
        assert.deepEqual(first.state, { name: 'lobby', epoch: first.state.epoch, lastSeq: 0, firstSeq: 1 });
        const again = await store.createRoom('lobby');
        assert.equal(again.created, false);
        assert.deepEqual(again.state, first.state);
        assert.deepEqual(await store.getRoom('lobby'), first.state);
        const other = await store.createRoom('other');
        assert.notEqual(other.state.epoch, '');
        const listed = await allRooms(store);
        assert.deepEqual(listed, [first.state, other.state]);
        assert.equal(await store.ping(), true);
      }));

    it('lists rooms a page at a time, by name, each page after the last name of the one before', () =>
      withStore(async ({ store }) => {
        const names = range(1, 23).map((i) => `p-${String(i).padStart(2, '0')}`);
        for (const name of [...names].reverse()) await store.createRoom(name);
        const first = await store.listRooms({ limit: 10 });
        assert.deepEqual(first.rooms.map((r) => r.name), names.slice(0, 10));
        assert.equal(first.next, 'p-10');
        const second = await store.listRooms({ after: first.next!, limit: 10 });
        assert.deepEqual(second.rooms.map((r) => r.name), names.slice(10, 20));
        const last = await store.listRooms({ after: second.next!, limit: 10 });
        assert.deepEqual(last.rooms.map((r) => r.name), names.slice(20));
        assert.equal(last.next, undefined);
        // `after` need not be a room: the page starts at the next name above it.
        assert.deepEqual((await store.listRooms({ after: 'p-05x', limit: 2 })).rooms.map((r) => r.name), ['p-06', 'p-07']);
        assert.deepEqual((await store.listRooms({ after: 'p-23', limit: 5 })), { rooms: [] });
        assert.deepEqual((await allRooms(store)).map((r) => r.name), names);
        assert.deepEqual((await store.listRooms({ limit: 1 })).rooms, [await store.getRoom('p-01')]);
      }));

    it('assigns seqs 1, 2, 3… with no gap, and reports them in the room state', () =>
      withStore(async ({ store }) => {
        const { state } = await store.createRoom('r');
        for (let i = 1; i <= 5; i++) {
          const result = await store.append(draft('r', `hello ${i}`));
          assert.equal(result.entry.seq, i);
          assert.equal(result.duplicate, false);
          assert.equal(result.epoch, state.epoch);
          assert.equal(typeof result.entry.ts, 'number');
        }
        assert.deepEqual(await store.getRoom('r'), { ...state, lastSeq: 5, firstSeq: 1 });
      }));

    it('stores a clientId once per sender and room and returns the original as a duplicate', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await store.createRoom('s');
        const original = await store.append(draft('r', 'first', 'cid-1'));
        await store.append(draft('r', 'second'));
        const again = await store.append(draft('r', 'changed text', 'cid-1'));
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.entry, original.entry);
        assert.equal(again.epoch, original.epoch);
        assert.deepEqual(seqs(await store.readAfter('r', 0, 10)), [1, 2]);
        assert.equal((await store.getRoom('r'))!.lastSeq, 2);
        // The same clientId in another room is another message.
        const elsewhere = await store.append(draft('s', 'first', 'cid-1'));
        assert.equal(elsewhere.duplicate, false);
        assert.equal(elsewhere.entry.seq, 1);
      }));

    it('scopes clientIds to the sender: another sender cannot take one, a retry is a duplicate', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        const carol: Sender = { id: 'conn-c', name: 'carol', member: 'carol' };
        const mallory: Sender = { id: 'conn-m', name: 'mallory', member: 'mallory' };
        // Mallory uses Carol's next clientId first: Carol's message is stored all the same.
        const squat = await store.append(draft('r', 'first!', 'c1', mallory));
        const real = await store.append(draft('r', 'hello', 'c1', carol));
        assert.equal(squat.duplicate, false);
        assert.equal(real.duplicate, false);
        assert.deepEqual([squat.entry.seq, real.entry.seq], [1, 2]);
        assert.deepEqual(real.entry.from, carol);
        // The member is the scope: Carol's retry through another connection is a duplicate.
        const retry = await store.append(draft('r', 'hello', 'c1', { ...carol, id: 'conn-c2', transport: 'sse' }));
        assert.equal(retry.duplicate, true);
        assert.deepEqual(retry.entry, real.entry);
        assert.deepEqual((await store.append(draft('r', 'first!', 'c1', mallory))).entry, squat.entry);
        // Without a member, the connection is the scope.
        const anon1 = await store.append(draft('r', 'a', 'c1', { id: 'http-1', name: 'anon' }));
        const anon2 = await store.append(draft('r', 'b', 'c1', { id: 'http-2', name: 'anon' }));
        assert.deepEqual([anon1.duplicate, anon1.entry.seq, anon2.duplicate, anon2.entry.seq], [false, 3, false, 4]);
        assert.deepEqual((await store.append(draft('r', 'a', 'c1', { id: 'http-1', name: 'anon' }))).entry, anon1.entry);
        assert.deepEqual(
          (await store.readAfter('r', 0, 10)).map((e) => [e.seq, e.type === 'message' ? e.text : undefined, e.type === 'message' ? e.clientId : undefined]),
          [[1, 'first!', 'c1'], [2, 'hello', 'c1'], [3, 'a', 'c1'], [4, 'b', 'c1']],
        );
        assert.equal((await store.getRoom('r'))!.lastSeq, 4);
      }));

    it('throws ROOM_NOT_FOUND for an unknown room', () =>
      withStore(async ({ store }) => {
        await assertCode(store.append(draft('nope', 'x')), 'ROOM_NOT_FOUND');
        await assertCode(store.readAfter('nope', 0, 10), 'ROOM_NOT_FOUND');
        await assertCode(store.readBefore('nope', undefined, 10), 'ROOM_NOT_FOUND');
        await assertCode(store.readBefore('nope', 1, 10), 'ROOM_NOT_FOUND');
        assert.equal(await store.getRoom('nope'), undefined);
      }));

    it('pages forwards with readAfter and backwards with readBefore, ascending, within limits', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await appendMany(store, 'r', 25);
        assert.deepEqual(seqs(await store.readAfter('r', 0, 10)), range(1, 10));
        assert.deepEqual(seqs(await store.readAfter('r', 10, 10)), range(11, 20));
        assert.deepEqual(seqs(await store.readAfter('r', 20, 10)), range(21, 25));
        assert.deepEqual(await store.readAfter('r', 25, 10), []);
        assert.deepEqual(await store.readAfter('r', 1000, 10), []);
        assert.deepEqual(await store.readAfter('r', 3, 0), []);
        assert.deepEqual(seqs(await store.readBefore('r', undefined, 10)), range(16, 25));
        assert.deepEqual(seqs(await store.readBefore('r', 16, 10)), range(6, 15));
        assert.deepEqual(seqs(await store.readBefore('r', 6, 10)), range(1, 5));
        assert.deepEqual(await store.readBefore('r', 1, 10), []);
        assert.deepEqual(seqs(await store.readBefore('r', 1000, 3)), [23, 24, 25]);
        assert.deepEqual(await store.readBefore('r', undefined, 0), []);
        const empty = await store.createRoom('empty');
        assert.equal(empty.created, true);
        assert.deepEqual(await store.readAfter('empty', 0, 10), []);
        assert.deepEqual(await store.readBefore('empty', undefined, 10), []);
      }));

    it('readAfterNow, where a store has it, answers as readAfter or not at all', () =>
      withStore(async ({ store, reopen, appendsElsewhere }) => {
        if (!store.readAfterNow) return;
        const now = store.readAfterNow.bind(store);
        /** readAfterNow's answer, checked against readAfter's. */
        const agrees = async (room: string, after: number, limit: number): Promise<Entry[] | undefined> => {
          const answer = now(room, after, limit);
          if (answer !== undefined) assert.deepEqual(answer, await store.readAfter(room, after, limit), `readAfterNow(${room}, ${after}, ${limit})`);
          return answer;
        };
        assert.equal(now('r', 0, 10), undefined, 'no such room');
        await store.createRoom('r');
        await appendMany(store, 'r', 25);
        for (const after of [0, 5, 20, 24, 25]) for (const limit of [0, 3, 100]) await agrees('r', after, limit);
        if (appendsElsewhere) await agrees('r', 20, 10);
        else assert.deepEqual(seqs((await agrees('r', 20, 10))!), range(21, 25), 'what it appended last, it holds');
        assert.equal(now('r', 26, 10), undefined, 'past the end');
        await store.trim({ ...FAR, maxEntries: 4 }, Date.now());
        assert.equal(now('r', 0, 10), undefined, 'a position before the history kept: readAfter tells');
        assert.equal(now('r', 20, 10), undefined);
        await agrees('r', 21, 10);
        await agrees('r', 23, 1);
        if (reopen) {
          const other = await reopen();
          await appendMany(other, 'r', 2);
          assert.deepEqual(seqs((await store.readAfter('r', 23, 10))), [24, 25, 26, 27]);
          for (const after of [21, 23, 25]) await agrees('r', after, 10);
        }
        await store.resetRoom('r');
        assert.equal(now('r', 3, 10), undefined, 'the old history is gone');
        await store.append(draft('r', 'new'));
        await agrees('r', 0, 10);
        await store.deleteRoom('r');
        assert.equal(now('r', 0, 10), undefined, 'a deleted room');
      }));

    it('gives 200 concurrent appends unique, gapless seqs', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        const results = await Promise.all(range(1, 200).map((i) => store.append(draft('r', `c${i}`, i % 3 === 0 ? `id-${i}` : undefined))));
        assert.deepEqual(results.map((r) => r.entry.seq).sort((a, b) => a - b), range(1, 200));
        const stored = await store.readAfter('r', 0, 500);
        assert.deepEqual(seqs(stored), range(1, 200));
        const bySeq = new Map(results.map((r) => [r.entry.seq, r.entry]));
        for (const e of stored) assert.deepEqual(e, bySeq.get(e.seq));
      }));

    it('keeps each concurrent append its own outcome: a duplicate of one in flight, another sender, an unknown room', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        // Started together, as a group-committing store batches them: none may fail another.
        const outcomes = await Promise.allSettled([
          store.append(draft('r', 'first', 'k1')),
          store.append(draft('r', 'first', 'k1')),
          store.append(draft('nope', 'lost')),
          store.append(draft('r', 'from bob', 'k1', bob)),
          store.append(draft('r', 'plain')),
        ]);
        const [a, b, missing, fromBob, plain] = outcomes;
        assert.ok(missing.status === 'rejected' && missing.reason instanceof SwitchboardError && missing.reason.code === 'ROOM_NOT_FOUND');
        assert.ok(a.status === 'fulfilled' && b.status === 'fulfilled' && fromBob.status === 'fulfilled' && plain.status === 'fulfilled');
        // Exactly one of alice's two is stored; the other returns it.
        assert.deepEqual([a.value.duplicate, b.value.duplicate].sort(), [false, true]);
        assert.deepEqual(a.value.entry, b.value.entry);
        assert.equal(fromBob.value.duplicate, false);
        assert.equal(plain.value.duplicate, false);
        const stored = await store.readAfter('r', 0, 10);
        assert.deepEqual(seqs(stored), [1, 2, 3]);
        assert.deepEqual(
          new Set(stored.map((e) => e.seq)),
          new Set([a.value.entry.seq, fromBob.value.entry.seq, plain.value.entry.seq]),
        );
        assert.equal((await store.getRoom('r'))!.lastSeq, 3);
      }));

    it('never returns from a read an entry whose append had not resolved when the read resolved', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        const acked = new Set<number>();
        const appends = range(1, 100).map((i) => store.append(draft('r', `m${i}`)).then((r) => void acked.add(r.entry.seq)));
        // Reads interleaved with the appends: what a read returns was stored, so its append
        // resolves, at the latest, in the same turn as the read (a store that resolves an append
        // only after its commit may resolve it right after).
        const reads = range(1, 10).map(async () => {
          const page = await store.readAfter('r', 0, 500);
          await new Promise<void>((resolve) => setImmediate(resolve));
          for (const e of page) assert.ok(acked.has(e.seq), `seq ${e.seq} read before its append resolved`);
        });
        await Promise.all([...appends, ...reads]);
        assert.equal(acked.size, 100);
      }));

    // Only for stores whose backend outlives an instance (a memory store has none to share).
    if (durable) it('keeps seqs unique and gapless across two instances on the same backend', () =>
      withStore(async ({ store, reopen }) => {
        if (!reopen) throw new Error('a durable store must give reopen');
        await store.createRoom('r');
        const other = await reopen();
        const results = await Promise.all(
          range(1, 200).map((i) => (i % 2 ? store : other).append(draft('r', `c${i}`, i % 5 === 0 ? `id-${i}` : undefined))),
        );
        assert.deepEqual(results.map((r) => r.entry.seq).sort((a, b) => a - b), range(1, 200));
        assert.deepEqual(seqs(await other.readAfter('r', 0, 500)), range(1, 200));
        // Racing appends of one clientId through both instances store it exactly once.
        const racing = await Promise.all(range(1, 20).map((i) => (i % 2 ? store : other).append(draft('r', `race ${i}`, 'same-id'))));
        assert.equal(racing.filter((r) => !r.duplicate).length, 1);
        assert.deepEqual(new Set(racing.map((r) => r.entry.seq)), new Set([201]));
        assert.equal((await store.getRoom('r'))!.lastSeq, 201);
        // Two senders racing with one clientId: each is stored exactly once.
        const senders = range(1, 20).map((i) => (i % 4 < 2 ? alice : bob));
        const two = await Promise.all(senders.map((from, i) => (i % 2 ? store : other).append(draft('r', `two ${i}`, 'both', from))));
        assert.equal(two.filter((r) => !r.duplicate).length, 2);
        assert.deepEqual(new Set(two.map((r) => r.entry.seq)), new Set([202, 203]));
        // Each got its own entry back, never the other sender's.
        two.forEach((r, i) => assert.equal(r.entry.from.id, senders[i]!.id));
      }));

    it('keeps one 32-byte node secret: the same at every call, from every instance on the backend, and after a restart', () =>
      withStore(async ({ store, reopen }) => {
        const secret = await store.nodeSecret();
        assert.ok(Buffer.isBuffer(secret));
        assert.equal(secret.length, 32);
        assert.deepEqual(await store.nodeSecret(), secret);
        if (!durable) return;
        if (!reopen) throw new Error('a durable store must give reopen');
        // Instances asking at once agree (the first to store one wins), and agree with the first.
        const others = await Promise.all([reopen(), reopen(), reopen()]);
        const answers = await Promise.all(others.map((o) => o.nodeSecret()));
        for (const a of answers) assert.deepEqual(a, secret);
        // Every instance closed: a fresh one on the same backend still has it.
        for (const s of [store, ...others]) await s.close();
        assert.deepEqual(await (await reopen()).nodeSecret(), secret);
      }));

    if (durable) it('makes the node secret once when fresh instances on a new backend ask at once', () =>
      withStore(async ({ store, reopen }) => {
        if (!reopen) throw new Error('a durable store must give reopen');
        const instances = [store, ...(await Promise.all([reopen(), reopen(), reopen()]))];
        const secrets = await Promise.all(instances.map((s) => s.nodeSecret()));
        for (const s of secrets) assert.deepEqual(s, secrets[0]);
      }));

    it('keeps disconnect orders: one per member and room, oldest first, from `since` on, the stale ones dropped; from every instance and after a restart', () =>
      withStore(async ({ store, reopen }) => {
        const now = Date.now();
        assert.deepEqual(await store.recentDisconnects(now - TICKET_MAX_AGE_MS), []);
        await store.keepDisconnect({ member: 'ann', room: 'hall', at: now - 3000 });
        await store.keepDisconnect({ member: 'bob', at: now - 2000 });
        await store.keepDisconnect({ member: 'ann', at: now - 1000 });
        // Older than a presence ticket lasts: dropped (or never read back).
        await store.keepDisconnect({ member: 'old', at: now - TICKET_MAX_AGE_MS - 1000 });
        // The same member and room again: the later order replaces the first.
        await store.keepDisconnect({ member: 'ann', room: 'hall', at: now - 500 });
        const expected = [{ member: 'bob', at: now - 2000 }, { member: 'ann', at: now - 1000 }, { member: 'ann', room: 'hall', at: now - 500 }];
        assert.deepEqual(await store.recentDisconnects(now - TICKET_MAX_AGE_MS), expected);
        assert.deepEqual(await store.recentDisconnects(now - 1000), expected.slice(1));
        if (!durable) return;
        if (!reopen) throw new Error('a durable store must give reopen');
        const other = await reopen();
        await other.keepDisconnect({ member: 'cyd', room: 'den', at: now - 100 });
        const all = [...expected, { member: 'cyd', room: 'den', at: now - 100 }];
        assert.deepEqual(await store.recentDisconnects(now - TICKET_MAX_AGE_MS), all);
        await Promise.all([store.close(), other.close()]);
        const fresh = await reopen();
        assert.deepEqual(await fresh.recentDisconnects(now - TICKET_MAX_AGE_MS), all);
        await fresh.close();
      }));

    it('trims by count: firstSeq moves up, lastSeq stays, seqs continue', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await store.createRoom('small');
        await appendMany(store, 'r', 30);
        await appendMany(store, 'small', 3);
        const removed = await store.trim({ ...FAR, maxEntries: 4 }, Date.now());
        assert.equal(removed, 26);
        const state = await store.getRoom('r');
        assert.equal(state!.firstSeq, 27);
        assert.equal(state!.lastSeq, 30);
        assert.deepEqual(seqs(await store.readAfter('r', 0, 100)), [27, 28, 29, 30]);
        assert.deepEqual(seqs(await store.readBefore('r', undefined, 100)), [27, 28, 29, 30]);
        assert.deepEqual(seqs(await store.readBefore('r', 29, 100)), [27, 28]);
        assert.deepEqual(seqs(await store.readAfter('small', 0, 100)), [1, 2, 3]);
        assert.equal((await store.append(draft('r', 'after trim'))).entry.seq, 31);
        assert.equal(await store.trim({ ...FAR, maxEntries: 4 }, Date.now()), 1);
        assert.equal(await store.trim({ ...FAR, maxEntries: 4 }, Date.now()), 0);
        // Trimming everything leaves an empty log that still remembers its last seq.
        await store.trim({ ...FAR, maxEntries: 0 }, Date.now());
        assert.deepEqual(await store.getRoom('r'), { ...state!, lastSeq: 31, firstSeq: 32 });
        assert.deepEqual(await store.readAfter('r', 0, 100), []);
        assert.deepEqual(await store.readBefore('r', undefined, 100), []);
        assert.equal((await store.append(draft('r', 'still counting'))).entry.seq, 32);
      }));

    it('trims by age: only the leading run of entries older than maxAgeMs', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await store.createRoom('old');
        await appendMany(store, 'old', 2);
        const early = await appendMany(store, 'r', 3);
        await sleep(20);
        const late = await appendMany(store, 'r', 2);
        assert.ok(late[0]!.ts > early[2]!.ts);
        const maxAgeMs = 1000;
        // Exactly maxAgeMs old is still young: only entries strictly older go.
        const now = late[0]!.ts + maxAgeMs;
        const removed = await store.trim({ maxEntries: 1000, maxAgeMs }, now);
        assert.equal(removed, 5);
        assert.deepEqual(seqs(await store.readAfter('r', 0, 100)), [4, 5]);
        const state = await store.getRoom('r');
        assert.equal(state!.firstSeq, 4);
        assert.equal(state!.lastSeq, 5);
        const old = await store.getRoom('old');
        assert.equal(old!.firstSeq, 3);
        assert.equal(old!.lastSeq, 2);
      }));

    it('forgets the clientIds of trimmed entries, and only theirs', () =>
      withStore(async ({ store }) => {
        await store.createRoom('r');
        await store.append(draft('r', 'one', 'cid-1'));
        await store.append(draft('r', 'bob one', 'cid-1', bob));
        await store.append(draft('r', 'two', 'cid-2'));
        await store.trim({ ...FAR, maxEntries: 2 }, Date.now());
        const again = await store.append(draft('r', 'one again', 'cid-1'));
        assert.equal(again.duplicate, false);
        assert.equal(again.entry.seq, 4);
        // Bob's entry with the same clientId was kept, and so was its key.
        const bobAgain = await store.append(draft('r', 'bob one again', 'cid-1', bob));
        assert.deepEqual([bobAgain.duplicate, bobAgain.entry.seq], [true, 2]);
        assert.equal((await store.append(draft('r', 'two again', 'cid-2'))).duplicate, true);
      }));

    it('counts rooms, refuses a new one at maxRooms with ROOM_LIMIT, and returns an existing one', () =>
      withStore(async ({ store }) => {
        assert.equal(await store.countRooms(), 0);
        await assertCode(store.createRoom('a', 0), 'ROOM_LIMIT');
        assert.equal(await store.getRoom('a'), undefined);
        assert.equal(await store.countRooms(), 0);
        const a = await store.createRoom('a', 2);
        assert.equal(a.created, true);
        assert.equal((await store.createRoom('b', 2)).created, true);
        assert.equal(await store.countRooms(), 2);
        // At (or past) the cap, an existing room is still returned as it is.
        for (const max of [2, 1, 0]) assert.deepEqual(await store.createRoom('a', max), { state: a.state, created: false });
        await assertCode(store.createRoom('c', 2), 'ROOM_LIMIT');
        assert.equal(await store.getRoom('c'), undefined);
        assert.deepEqual((await allRooms(store)).map((r) => r.name).sort(), ['a', 'b']);
        // No maxRooms, no cap.
        assert.equal((await store.createRoom('c')).created, true);
        assert.equal(await store.countRooms(), 3);
      }));

    it('caps rooms atomically: 300 concurrent creations with maxRooms 50 leave exactly 50 rooms', () =>
      withStore(async ({ store, reopen }) => {
        // Through two instances when the backend has them, so the cap holds across processes or nodes.
        const other = reopen ? await reopen() : store;
        const names = range(1, 300).map((i) => `room-${i}`);
        const outcomes = await Promise.all(
          names.map((name, i) =>
            (i % 2 ? store : other).createRoom(name, 50).then(
              ({ created }) => (created ? 'created' : 'existed'),
              (err: unknown) => (err instanceof SwitchboardError ? err.code : String(err)),
            ),
          ),
        );
        const created = names.filter((_, i) => outcomes[i] === 'created');
        assert.equal(created.length, 50);
        assert.equal(outcomes.filter((o) => o === 'ROOM_LIMIT').length, 250);
        assert.equal(await store.countRooms(), 50);
        assert.equal(await other.countRooms(), 50);
        assert.deepEqual((await allRooms(store)).map((r) => r.name).sort(), created.sort());
      }));

    it('keeps the count and the list in step with the rooms when creations and deletions of one name race', () =>
      withStore(async ({ store, reopen }) => {
        const other = reopen ? await reopen() : store;
        await store.createRoom('steady');
        for (let round = 0; round < 20; round++) {
          // Deletions and creations through two instances, interleaved, so their steps cross.
          const ops = range(0, 7).flatMap((i) => [(i % 2 ? store : other).deleteRoom('x'), (i % 2 ? other : store).createRoom('x', 10)]);
          await Promise.all(ops.map((p) => (p as Promise<unknown>).catch((err: unknown) => assert.fail(`round ${round}: ${String(err)}`))));
          const exists = (await store.getRoom('x')) !== undefined;
          assert.equal(await store.countRooms(), exists ? 2 : 1, `round ${round}: counted as ${exists ? 'existing' : 'gone'}`);
          assert.deepEqual((await allRooms(other)).map((r) => r.name), exists ? ['steady', 'x'] : ['steady']);
          if (exists) {
            assert.equal((await store.append(draft('x', 'm'))).entry.seq, ((await store.getRoom('x'))!.lastSeq));
            assert.equal(await other.deleteRoom('x'), true);
          }
          assert.equal(await store.countRooms(), 1);
        }
      }));

    it('deletes a room with its entries and clientIds; making it again starts a new history', () =>
      withStore(async ({ store, reopen }) => {
        const first = await store.createRoom('r', 2);
        await store.createRoom('keep', 2);
        await store.append(draft('r', 'one', 'cid-1'));
        await appendMany(store, 'r', 2);
        const kept = await store.append(draft('keep', 'kept', 'cid-1'));
        assert.equal(await store.deleteRoom('r'), true);
        assert.equal(await store.getRoom('r'), undefined);
        assert.equal(await store.countRooms(), 1);
        assert.deepEqual((await allRooms(store)).map((r) => r.name), ['keep']);
        await assertCode(store.append(draft('r', 'late')), 'ROOM_NOT_FOUND');
        await assertCode(store.readAfter('r', 0, 10), 'ROOM_NOT_FOUND');
        await assertCode(store.readBefore('r', undefined, 10), 'ROOM_NOT_FOUND');
        assert.equal(await store.deleteRoom('r'), false);
        assert.equal(await store.deleteRoom('never'), false);
        assert.equal(await store.countRooms(), 1);
        assert.equal(await store.trim(FAR, Date.now()), 0);
        // The room's slot is free again, and the new room remembers nothing of the old one.
        const again = await store.createRoom('r', 2);
        assert.equal(again.created, true);
        assert.notEqual(again.state.epoch, first.state.epoch);
        assert.deepEqual(again.state, { name: 'r', epoch: again.state.epoch, lastSeq: 0, firstSeq: 1 });
        assert.deepEqual(await store.readAfter('r', 0, 10), []);
        const appended = await store.append(draft('r', 'one again', 'cid-1'));
        assert.deepEqual([appended.duplicate, appended.entry.seq, appended.epoch], [false, 1, again.state.epoch]);
        assert.deepEqual(await store.readAfter('r', 0, 10), [appended.entry]);
        // The other room was not touched.
        assert.deepEqual((await store.append(draft('keep', 'kept', 'cid-1'))).entry, kept.entry);
        if (reopen) {
          const next = await reopen();
          assert.deepEqual(await next.getRoom('r'), { ...again.state, lastSeq: 1 });
          assert.equal(await next.countRooms(), 2);
        }
      }));

    it('resets a room: no entries, no clientIds, a new epoch, seqs from 1', () =>
      withStore(async ({ store, reopen }) => {
        const { state } = await store.createRoom('r');
        await store.createRoom('other');
        await store.append(draft('r', 'one', 'cid-1'));
        await appendMany(store, 'r', 4);
        await appendMany(store, 'other', 2);
        await store.trim({ ...FAR, maxEntries: 3 }, Date.now());
        const reset = await store.resetRoom('r');
        assert.notEqual(reset.epoch, state.epoch);
        assert.deepEqual(reset, { name: 'r', epoch: reset.epoch, lastSeq: 0, firstSeq: 1 });
        assert.deepEqual(await store.getRoom('r'), reset);
        assert.deepEqual(await store.readAfter('r', 0, 10), []);
        assert.deepEqual(await store.readBefore('r', undefined, 10), []);
        assert.equal(await store.countRooms(), 2);
        const next = await store.append(draft('r', 'one', 'cid-1'));
        assert.deepEqual([next.duplicate, next.entry.seq, next.epoch], [false, 1, reset.epoch]);
        assert.deepEqual(await store.readAfter('r', 0, 10), [next.entry]);
        assert.deepEqual(seqs(await store.readAfter('other', 0, 10)), [1, 2]);
        await assertCode(store.resetRoom('nope'), 'ROOM_NOT_FOUND');
        assert.equal(await store.getRoom('nope'), undefined);
        assert.equal(await store.countRooms(), 2);
        if (reopen) assert.deepEqual(await (await reopen()).getRoom('r'), { ...reset, lastSeq: 1 });
      }));

    it('resets atomically: a concurrent append lands wholly before the reset or wholly after it', () =>
      withStore(async ({ store, reopen }) => {
        const other = reopen ? await reopen() : store;
        await store.createRoom('r');
        const append = (i: number) => (i % 2 ? store : other).append(draft('r', `c${i}`, i % 4 === 0 ? `id-${i}` : undefined));
        // One call of each kind first: a backend that sets a call up on first use (Redis loads a
        // script, then sends it again) could otherwise reorder the first calls below.
        await append(1);
        const state = await store.resetRoom('r');
        const before = range(1, 50).map(append);
        const resetting = store.resetRoom('r');
        const after = range(51, 100).map(append);
        const results = await Promise.all([...before, ...after]);
        const reset = await resetting;
        const old = results.filter((r) => r.epoch === state.epoch);
        const fresh = results.filter((r) => r.epoch === reset.epoch).sort((a, b) => a.entry.seq - b.entry.seq);
        assert.equal(old.length + fresh.length, 100);
        // Calls on one instance run in order, so each side has at least that instance's share.
        assert.ok(old.length >= 25 && fresh.length >= 25, `${old.length} before, ${fresh.length} after`);
        assert.deepEqual(old.map((r) => r.entry.seq).sort((a, b) => a - b), range(1, old.length));
        assert.deepEqual(fresh.map((r) => r.entry.seq), range(1, fresh.length));
        // Only the new epoch's entries are left, exactly as acknowledged.
        assert.deepEqual(await store.readAfter('r', 0, 500), fresh.map((r) => r.entry));
        assert.deepEqual(await store.getRoom('r'), { ...reset, lastSeq: fresh.length });
      }));

    if (durable) it('never reuses a seq after a reopen, even when everything was trimmed', () =>
      withStore(async ({ store, reopen }) => {
        if (!reopen) throw new Error('a durable store must give reopen');
        const { state } = await store.createRoom('r');
        await appendMany(store, 'r', 3);
        await store.trim({ ...FAR, maxEntries: 0 }, Date.now());
        await store.close();
        const next = await reopen();
        assert.deepEqual(await next.getRoom('r'), { ...state, lastSeq: 3, firstSeq: 4 });
        assert.equal((await next.createRoom('r')).created, false);
        const appended = await next.append(draft('r', 'after restart'));
        assert.equal(appended.entry.seq, 4);
        assert.equal(appended.epoch, state.epoch);
        assert.deepEqual(await next.readAfter('r', 0, 10), [appended.entry]);
      }));

    it('round-trips entries exactly: Unicode text, optional keys absent, sender keys as given', () =>
      withStore(async ({ store, reopen }) => {
        await store.createRoom('r');
        const full: Sender = { id: 'conn-7', name: '김민지 🐻', member: 'member-7', transport: 'websocket' };
        const drafts: EntryDraft[] = [
          { type: 'message', room: 'r', from: full, text: '안녕하세요! 반가워요 👋🏽 👩‍👩‍👧 "quoted" \\ back\nslash', clientId: 'k-1' },
          { type: 'join', room: 'r', from: { id: 'conn-8', name: '이서준' } },
          { type: 'message', room: 'r', from: { id: 'conn-8', name: '이서준', transport: 'sse' }, text: '' },
          { type: 'leave', room: 'r', from: full },
        ];
        const acked: Entry[] = [];
        for (const d of drafts) {
          const { entry } = await store.append(d);
          acked.push(entry);
          const base = { room: 'r', seq: acked.length, ts: entry.ts, from: { ...d.from } };
          const expected: Entry = d.type === 'message' ? { type: 'message', ...base, text: d.text } : { type: d.type as 'join' | 'leave', ...base };
          if (d.type === 'message' && expected.type === 'message' && d.clientId !== undefined) expected.clientId = d.clientId;
          assert.deepEqual(entry, expected);
        }
        assert.equal('text' in acked[1]!, false);
        assert.equal('clientId' in acked[1]!, false);
        assert.equal('clientId' in acked[2]!, false);
        assert.deepEqual(Object.keys(acked[1]!.from).sort(), ['id', 'name']);
        assert.deepEqual(await store.readAfter('r', 0, 10), acked);
        assert.deepEqual(await store.readBefore('r', undefined, 10), acked);
        if (reopen) assert.deepEqual(await (await reopen()).readAfter('r', 0, 10), acked);
      }));

    it('stores data and event: any JSON value comes back deep-equal, absent keys stay absent', () =>
      withStore(async ({ store, reopen }) => {
        await store.createRoom('r');
        const from: Sender = { id: 'conn-9', name: 'bot', member: 'bot' };
        const nested: JsonValue = { x: 1, y: -2.5, big: 9007199254740991, ok: true, none: null, list: [1, 'two', [3, { four: 4 }], []], empty: {}, 'key "quoted"\n': '값 🐻', deep: { a: { b: { c: { d: [0] } } } } };
        const drafts: MessageDraft[] = [
          { type: 'message', room: 'r', from, text: 'with data', data: nested, event: 'game:move', clientId: 'd-1' },
          { type: 'message', room: 'r', from, text: '', data: [1, 2, 3], event: 'a.b_c-d:e' },
          { type: 'message', room: 'r', from, text: '', data: 'just a string' },
          { type: 'message', room: 'r', from, text: '', data: 0 },
          { type: 'message', room: 'r', from, text: '', data: false },
          { type: 'message', room: 'r', from, text: 'event only', event: 'ping' },
        ];
        const acked: Entry[] = [];
        for (const d of drafts) {
          const { entry } = await store.append(d);
          acked.push(entry);
          assert.deepEqual(entry, { ...d, seq: acked.length, ts: entry.ts });
        }
        assert.deepEqual(Object.keys(acked[2]!).sort(), ['data', 'from', 'room', 'seq', 'text', 'ts', 'type']);
        assert.deepEqual(Object.keys(acked[5]!).sort(), ['event', 'from', 'room', 'seq', 'text', 'ts', 'type']);
        assert.deepEqual(await store.readAfter('r', 0, 10), acked);
        assert.deepEqual(await store.readBefore('r', undefined, 10), acked);
        // A retry is answered with the stored entry, data and event included.
        const again = await store.append({ ...drafts[0]!, data: { other: true } });
        assert.equal(again.duplicate, true);
        assert.deepEqual(again.entry, acked[0]);
        // The store keeps its own copy: changing the draft's object afterwards changes nothing.
        (nested as { x: number }).x = 99;
        const first = (await store.readAfter('r', 0, 1))[0] as MessageEntry;
        assert.equal((first.data as { x: number }).x, 1);
        if (reopen) assert.deepEqual(await (await reopen()).readAfter('r', 0, 10), acked);
      }));
  });
}
