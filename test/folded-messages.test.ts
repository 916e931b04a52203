import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FoldedMessages } from '../src/client/index.js';
import type { DeleteEntry, EditEntry, Entry, MessageEntry, ReactionEntry } from '../src/protocol/types.js';

const ROOM = 'r';
const ann = { id: 'c-ann', name: 'ann', member: 'ann' };
const bob = { id: 'c-bob', name: 'bob', member: 'bob' };

function msg(seq: number, text: string, extra: Partial<MessageEntry> = {}): MessageEntry {
  return { type: 'message', room: ROOM, seq, ts: seq * 1000, from: ann, text, ...extra };
}
function edit(seq: number, target: number, text: string): EditEntry {
  return { type: 'edit', room: ROOM, seq, ts: seq * 1000, from: ann, target, text };
}
function del(seq: number, target: number): DeleteEntry {
  return { type: 'delete', room: ROOM, seq, ts: seq * 1000, from: ann, target };
}
function react(seq: number, target: number, emoji: string, on: boolean, from = ann): ReactionEntry {
  return { type: 'reaction', room: ROOM, seq, ts: seq * 1000, from, target, emoji, on };
}

/** A log and what the server would return as history for it (every amendment folded in). */
const LOG: Entry[] = [
  msg(1, 'one'),
  msg(2, 'two', { data: { x: 1 }, event: 'e' }),
  msg(3, 're one', { from: bob, replyTo: 1, reply: { seq: 1, from: { name: 'ann', member: 'ann' }, text: 'one' } }),
  edit(4, 1, 'one!'),
  react(5, 2, '👍', true),
  react(6, 2, '👍', true, bob),
  react(7, 2, '👍', false),
  del(8, 1),
  msg(9, 'nine'),
];

function foldedByHand(): MessageEntry[] {
  return [
    { ...msg(1, ''), edited: { seq: 4, ts: 4000 }, deleted: true, folded: 8 },
    { ...msg(2, 'two', { data: { x: 1 }, event: 'e' }), reactions: [{ emoji: '👍', count: 1, by: [{ member: 'bob', name: 'bob' }] }], folded: 7 },
    msg(3, 're one', { from: bob, replyTo: 1, reply: { seq: 1, from: { name: 'ann', member: 'ann' }, text: '', deleted: true } }),
    msg(9, 'nine'),
  ];
}

describe('FoldedMessages', () => {
  it('works through a Proxy, as a framework\'s reactive state holds it (no ES private fields, which refuse a proxy as `this`)', () => {
    const f = new Proxy(new FoldedMessages(), {});
    for (const e of LOG) f.apply(e);
    assert.deepEqual(f.messages(), foldedByHand());
  });

  it('folds a log applied in order: edit, reactions by two members, delete erasing the reply preview', () => {
    const f = new FoldedMessages();
    for (const e of LOG) f.apply(e);
    assert.deepEqual(f.messages(), foldedByHand());
    assert.equal(f.size, 4);
  });

  it('returns the message that changed, undefined when nothing did', () => {
    const f = new FoldedMessages();
    assert.equal(f.apply(msg(1, 'one'))?.text, 'one');
    assert.equal(f.apply({ type: 'join', room: ROOM, seq: 2, ts: 0, from: ann }), undefined);
    const edited = f.apply(edit(3, 1, 'uno'));
    assert.equal(edited?.text, 'uno');
    assert.deepEqual(edited?.edited, { seq: 3, ts: 3000 });
    assert.equal(f.apply(edit(3, 1, 'uno')), undefined, 'a replayed amendment changes nothing');
    assert.equal(f.apply(msg(1, 'one')), undefined, 'a replayed message is not older news');
    assert.equal(f.get(1)?.text, 'uno');
  });

  it('loads history pages in any order, then skips replayed amendments at or below folded', () => {
    const f = new FoldedMessages();
    const history = foldedByHand();
    f.load(history.slice(2)); // the newest page first
    f.load(history.slice(0, 2));
    // A resume that replays the whole log over the folded copies: nothing changes.
    for (const e of LOG) assert.equal(f.apply(e), undefined, `seq ${e.seq} was already folded in`);
    assert.deepEqual(f.messages(), history);
  });

  it('a resumed batch over a partly folded copy applies only the newer amendments', () => {
    const f = new FoldedMessages();
    // History read after seq 5: message 2 folded up to 5.
    f.load([{ ...msg(2, 'two', { data: { x: 1 }, event: 'e' }), reactions: [{ emoji: '👍', count: 1, by: [{ member: 'ann', name: 'ann' }] }], folded: 5 }]);
    f.load(LOG.slice(4)); // resume from 4: 5 is replayed, 6 and 7 are new
    assert.deepEqual(f.get(2)?.reactions, [{ emoji: '👍', count: 1, by: [{ member: 'bob', name: 'bob' }] }]);
    assert.equal(f.get(2)?.folded, 7);
  });

  it('a live copy with fewer amendments does not replace a more folded one, and a more folded one replaces it', () => {
    const f = new FoldedMessages();
    f.apply(msg(1, 'one'));
    const newer = { ...msg(1, 'uno'), edited: { seq: 4, ts: 4000 }, folded: 4 };
    assert.equal(f.apply(newer), newer);
    assert.equal(f.apply(msg(1, 'one')), undefined);
    assert.equal(f.get(1)?.text, 'uno');
  });

  it('an amendment that comes before its message (a history page in flight) is applied when it comes', () => {
    const f = new FoldedMessages();
    f.apply(edit(10, 1, 'late edit'));
    f.apply(react(11, 1, '❤️', true, bob));
    f.load([{ ...msg(1, 'first edit'), edited: { seq: 5, ts: 5000 }, folded: 5 }]);
    assert.equal(f.get(1)?.text, 'late edit');
    assert.equal(f.get(1)?.folded, 11);
    assert.deepEqual(f.get(1)?.reactions, [{ emoji: '❤️', count: 1, by: [{ member: 'bob', name: 'bob' }] }]);
    // ...but not those the page had already folded in.
    const g = new FoldedMessages();
    g.apply(edit(4, 1, 'old edit'));
    g.load([{ ...msg(1, 'newer edit'), edited: { seq: 5, ts: 5000 }, folded: 5 }]);
    assert.equal(g.get(1)?.text, 'newer edit');
  });

  it('delete blanks text, data, event and reply, and the preview of replies quoting it, loaded before or after', () => {
    const f = new FoldedMessages();
    f.apply(msg(1, 'secret', { data: { s: 1 }, event: 'x' }));
    f.apply(react(2, 1, '👍', true, bob));
    f.apply(msg(3, 'quote', { from: bob, replyTo: 1, reply: { seq: 1, from: { name: 'ann' }, text: 'secret' } }));
    assert.equal(f.get(1)?.reactions?.length, 1);
    const deleted = f.apply(del(4, 1));
    assert.equal(deleted?.reactions, undefined, 'a tombstone has no reactions');
    assert.equal(deleted?.deleted, true);
    assert.equal(deleted?.text, '');
    assert.equal(deleted?.data, undefined);
    assert.equal(deleted?.event, undefined);
    assert.deepEqual(f.get(3)?.reply, { seq: 1, from: { name: 'ann' }, text: '', deleted: true });
    // A reply that comes after (a live copy, broadcast before the delete) loses its preview too.
    const late = f.apply(msg(5, 'late quote', { from: bob, replyTo: 1, reply: { seq: 1, from: { name: 'ann' }, text: 'secret' } }));
    assert.deepEqual(late?.reply, { seq: 1, from: { name: 'ann' }, text: '', deleted: true });
    // Amendments after the delete (replays) do not bring text back.
    f.apply(edit(6, 1, 'back?'));
    assert.equal(f.get(1)?.text, '');
    assert.ok(!JSON.stringify(f.messages()).includes('secret'));
  });

  it('reaction toggles by two members: count, by in order, emoji in order of first reaction, removed at zero', () => {
    const f = new FoldedMessages();
    f.apply(msg(1, 'm'));
    f.apply(react(2, 1, '👍', true));
    f.apply(react(3, 1, '❤️', true, bob));
    f.apply(react(4, 1, '👍', true, bob));
    assert.deepEqual(f.get(1)?.reactions, [
      { emoji: '👍', count: 2, by: [{ member: 'ann', name: 'ann' }, { member: 'bob', name: 'bob' }] },
      { emoji: '❤️', count: 1, by: [{ member: 'bob', name: 'bob' }] },
    ]);
    f.apply(react(5, 1, '👍', false));
    f.apply(react(6, 1, '❤️', false, bob));
    assert.deepEqual(f.get(1)?.reactions, [{ emoji: '👍', count: 1, by: [{ member: 'bob', name: 'bob' }] }]);
    f.apply(react(7, 1, '👍', false, bob));
    assert.equal(f.get(1)?.reactions, undefined);
    assert.ok(!('reactions' in f.get(1)!), 'no empty reactions list');
    // Adding twice (an explicit on: true) counts once.
    f.apply(react(8, 1, '👍', true));
    f.apply(react(9, 1, '👍', true));
    assert.equal(f.get(1)?.reactions?.[0]?.count, 1);
  });

  it('by is capped at 50 with an exact count', () => {
    const f = new FoldedMessages();
    f.apply(msg(1, 'popular'));
    for (let i = 0; i < 60; i++) f.apply(react(2 + i, 1, '🎉', true, { id: `c${i}`, name: `n${i}`, member: `m${i}` }));
    const r = f.get(1)!.reactions![0]!;
    assert.equal(r.count, 60);
    assert.equal(r.by.length, 50);
    assert.deepEqual(r.by[0], { member: 'm0', name: 'n0' });
    assert.deepEqual(r.by[49], { member: 'm49', name: 'n49' });
    // One past the list takes back: counted; one in the list: counted and unlisted.
    f.apply(react(100, 1, '🎉', false, { id: 'c55', name: 'n55', member: 'm55' }));
    f.apply(react(101, 1, '🎉', false, { id: 'c0', name: 'n0', member: 'm0' }));
    const after = f.get(1)!.reactions![0]!;
    assert.equal(after.count, 58);
    assert.equal(after.by.length, 49);
    assert.equal(after.by[0]?.member, 'm1');
  });

  it('max keeps the newest messages only', () => {
    const f = new FoldedMessages({ max: 3 });
    for (let seq = 1; seq <= 5; seq++) f.apply(msg(seq, `m${seq}`));
    assert.deepEqual(
      f.messages().map((m) => m.seq),
      [3, 4, 5],
    );
    // An older page does not push newer messages out.
    assert.equal(f.apply(msg(2, 'older')), undefined);
    assert.equal(f.size, 3);
    assert.equal(f.apply(edit(6, 1, 'gone')), undefined);
    f.apply(msg(7, 'm7'));
    assert.deepEqual(
      f.messages().map((m) => m.seq),
      [4, 5, 7],
    );
  });

  it('forgetThrough drops the messages at or below a seq; a delete of one forgotten still blanks the replies quoting it; history brings it back', () => {
    const f = new FoldedMessages();
    for (const seq of [5, 1, 3, 2]) f.apply(msg(seq, `m${seq}`));
    f.apply(msg(6, 're two', { from: bob, replyTo: 2, reply: { seq: 2, from: { name: 'ann', member: 'ann' }, text: 'm2' } }));
    assert.equal(f.forgetThrough(0), 0);
    assert.equal(f.forgetThrough(2), 2);
    assert.deepEqual(
      f.messages().map((m) => m.seq),
      [3, 5, 6],
    );
    assert.equal(f.get(2), undefined);
    assert.equal(f.apply(del(7, 2)), undefined, 'the message deleted is not here');
    assert.deepEqual(f.get(6)?.reply, { seq: 2, from: { name: 'ann', member: 'ann' }, text: '', deleted: true });
    f.apply(edit(8, 3, 'm3!'));
    // Scrolling back up: the page read after the delete has it folded in; one read before, the delete waiting is applied.
    f.load([msg(1, 'm1'), msg(2, 'm2'), msg(4, 'm4')]);
    assert.deepEqual(
      f.messages().map((m) => [m.seq, m.text, m.deleted ?? false]),
      [
        [1, 'm1', false],
        [2, '', true],
        [3, 'm3!', false],
        [4, 'm4', false],
        [5, 'm5', false],
        [6, 're two', false],
      ],
    );
    assert.equal(f.forgetThrough(99), 6);
    assert.equal(f.size, 0);
    assert.deepEqual(f.messages(), []);
  });

  it('messages() is a copy, and messages are new objects when they change', () => {
    const f = new FoldedMessages();
    const first = f.apply(msg(1, 'a'))!;
    f.messages().pop();
    assert.equal(f.size, 1);
    const changed = f.apply(edit(2, 1, 'b'))!;
    assert.notEqual(first, changed);
    assert.equal(first.text, 'a');
  });
});
