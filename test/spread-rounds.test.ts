import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SLOTS, SLICE, SpreadRounds } from '../src/server/spread-rounds.js';
import { waitFor } from './helpers.js';

/** Visits grouped into ticks: visits of one tick are synchronous, ticks are SLOT_MS apart. */
function ticksOf(visits: { at: number; member: number }[]): number[][] {
  const ticks: number[][] = [];
  let lastAt = Number.NEGATIVE_INFINITY;
  for (const v of visits) {
    if (v.at - lastAt > 20) ticks.push([]);
    ticks.at(-1)!.push(v.member);
    lastAt = v.at;
  }
  return ticks;
}

describe('SpreadRounds', () => {
  it('visits each member once per interval, a slice of them every quarter second, not all at once', async () => {
    const visits: { at: number; member: number }[] = [];
    const members = Array.from({ length: 1000 }, (_, i) => ({ spreadSlot: -1, i }));
    const rounds = new SpreadRounds<(typeof members)[number]>(1000, (m) => (visits.push({ at: performance.now(), member: m.i }), true));
    assert.equal(rounds.slotCount, 4);
    for (const m of members) rounds.add(m);
    rounds.add(members[0]!); // again: nothing
    assert.equal(rounds.size, 1000);
    await waitFor(() => visits.length >= 1000, 3000, 'a whole interval of visits');
    rounds.stop();
    const ticks = ticksOf(visits.slice(0, 1000));
    // All at once (one timer for all) makes one tick of 1000: fails.
    assert.deepEqual(ticks.map((t) => t.length), [250, 250, 250, 250]);
    assert.equal(new Set(visits.slice(0, 1000).map((v) => v.member)).size, 1000, 'each member once in an interval');
  });

  it('drops a member its visit says is over, and one deleted before its turn; stops with the last', async () => {
    let visited = 0;
    const over = { spreadSlot: -1, live: false };
    const live = { spreadSlot: -1, live: true };
    const gone = { spreadSlot: -1, live: true };
    const rounds = new SpreadRounds<typeof over>(40, (m) => (visited++, m.live));
    for (const m of [over, live, gone]) rounds.add(m);
    rounds.delete(gone);
    rounds.delete(gone); // again: nothing
    assert.equal(gone.spreadSlot, -1);
    await waitFor(() => visited >= 3, 2000, 'two rounds');
    assert.equal(rounds.size, 1);
    assert.equal(over.spreadSlot, -1);
    rounds.delete(live);
    assert.equal(rounds.size, 0);
    const before = visited;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(visited, before, 'no member, no visit');
  });

  it('visits a crowded slot SLICE members per event-loop turn', async () => {
    let visits = 0;
    let firstTurn: number | undefined;
    const members = Array.from({ length: 1200 }, () => ({ spreadSlot: -1 }));
    const rounds = new SpreadRounds<(typeof members)[number]>(100, () => {
      // Queued before the visit's next slice: runs once the first turn's visits are done.
      if (visits++ === 0) setImmediate(() => (firstTurn = visits));
      return true;
    });
    assert.equal(rounds.slotCount, 1);
    for (const m of members) rounds.add(m);
    await waitFor(() => visits >= 1200, 2000, 'a whole slot visited');
    rounds.stop();
    assert.equal(firstTurn, SLICE);
  });

  it('has at most MAX_SLOTS slots, and one for an interval under a slot', () => {
    assert.equal(new SpreadRounds(10 * 60_000, () => true).slotCount, MAX_SLOTS);
    assert.equal(new SpreadRounds(100, () => true).slotCount, 1);
  });
});
