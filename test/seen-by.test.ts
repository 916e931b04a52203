import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReadReceipt } from '../src/protocol/types.js';
import { seenBy, type SeenLine } from '../web/src/seen-by.js';

const reader = (member: string, seq: number): ReadReceipt => ({ room: 'r', member, name: member.toUpperCase(), seq });
/** Lines 1..n, newest first, each by `senderOf(seq)`. */
const lines = (n: number, senderOf: (seq: number) => string = () => 'x'): SeenLine[] => Array.from({ length: n }, (_, i) => ({ seq: n - i, sender: senderOf(n - i) }));

/** What the web app did before seenBy: every reader looked at for every line, newest first. */
function bruteForce(newestFirst: SeenLine[], readers: ReadReceipt[]): { seq: number; names: string[] } | undefined {
  for (const line of newestFirst) {
    const seen = readers.filter((r) => r.seq >= line.seq && r.member !== line.sender);
    if (seen.length) return { seq: line.seq, names: seen.map((r) => r.name) };
  }
  return undefined;
}

describe('"Seen by" (web app)', () => {
  it('goes under the newest line someone read, naming whoever read that far, in the readers\' order', () => {
    const found = seenBy(lines(10), [reader('cy', 9), reader('bob', 7), reader('ann', 9)]);
    assert.deepEqual({ seq: found?.line.seq, names: found?.names }, { seq: 9, names: ['CY', 'ANN'] });
  });

  it('passes over a line read only by its sender, and lines not stored yet', () => {
    const newest: SeenLine[] = [{ seq: Number.NaN, sender: 'me' }, ...lines(5, (seq) => (seq === 5 ? 'bob' : 'ann'))];
    const found = seenBy(newest, [reader('bob', 5), reader('ann', 3)]);
    assert.deepEqual({ seq: found?.line.seq, names: found?.names }, { seq: 4, names: ['BOB'] });
  });

  it('is nowhere when no one read anything, or only their own lines', () => {
    assert.equal(seenBy(lines(5), []), undefined);
    assert.equal(seenBy(lines(5, () => 'bob'), [reader('bob', 5)]), undefined);
    assert.equal(seenBy(lines(5), [reader('bob', 0)]), undefined);
  });

  it('answers as looking at every reader for every line did, over random rooms', () => {
    let state = 42;
    const rand = (n: number): number => ((state = (state * 1103515245 + 12345) % 2 ** 31), state % n);
    for (let round = 0; round < 500; round++) {
      const members = Array.from({ length: 1 + rand(6) }, (_, i) => `m${i}`);
      const newest = lines(1 + rand(12), () => members[rand(members.length)]!);
      const readers = members.filter(() => rand(3) > 0).map((m) => reader(m, rand(14)));
      const found = seenBy(newest, readers);
      assert.deepEqual(found && { seq: found.line.seq, names: found.names }, bruteForce(newest, readers), `round ${round}`);
    }
  });
});
