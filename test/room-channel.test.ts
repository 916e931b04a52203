import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Entry } from '../src/protocol/types.js';
import type { Batch } from '../src/server/batch.js';
import { BEHIND_MS, DeliveryPace } from '../src/server/delivery-pace.js';
import { RoomChannel } from '../src/server/room-channel.js';
import { MemoryStore } from '../src/server/store/memory-store.js';
import type { Subscriber } from '../src/server/subscriber.js';
import { waitFor } from './helpers.js';

function recorder(position = 0): Subscriber & { seqs: number[]; batches: number; resets: number } {
  const sub = {
    transport: 'websocket' as const,
    position,
    seqs: [] as number[],
    batches: 0,
    resets: 0,
    deliver(batch: Batch) {
      sub.batches++;
      for (const e of batch.entries) sub.seqs.push(e.seq);
    },
    historyReset() {
      sub.resets++;
    },
  };
  return sub;
}

async function storeWith(n: number): Promise<{ store: MemoryStore; entries: Entry[]; epoch: string }> {
  const store = new MemoryStore();
  const { state } = await store.createRoom('r');
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push((await store.append({ type: 'message', room: 'r', from: { id: 'x', name: 'x' }, text: `m${i}` })).entry);
  return { store, entries, epoch: state.epoch };
}

describe('RoomChannel: order across nodes', () => {
  it('delivers entries that arrive out of order in seq order, each once', async () => {
    const { store, entries, epoch } = await storeWith(6);
    const channel = new RoomChannel('r', epoch, 0, store, () => {});
    const sub = recorder();
    channel.subscribers.add(sub);
    for (const i of [1, 0, 3, 2, 2, 5, 4, 0]) channel.receive(epoch, entries[i]!);
    await waitFor(() => sub.seqs.length === 6);
    assert.deepEqual(sub.seqs, [1, 2, 3, 4, 5, 6]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sub.seqs, [1, 2, 3, 4, 5, 6], 'duplicates dropped');
  });

  it('fills a gap from the store when a broker message never comes', async () => {
    const { store, entries, epoch } = await storeWith(4);
    const channel = new RoomChannel('r', epoch, 0, store, () => {});
    const sub = recorder();
    channel.subscribers.add(sub);
    channel.receive(epoch, entries[0]!);
    channel.receive(epoch, entries[3]!); // 2 and 3 lost on the way
    await waitFor(() => sub.seqs.length === 4, 2000, 'gap filled');
    assert.deepEqual(sub.seqs, [1, 2, 3, 4]);
  });

  it('skips a gap only where retention trimmed the entries (below the room\'s firstSeq), then delivers from there in order', async () => {
    const { store, entries, epoch } = await storeWith(6);
    await store.trim({ maxEntries: 2, maxAgeMs: Number.MAX_SAFE_INTEGER }, Date.now());
    assert.equal((await store.getRoom('r'))!.firstSeq, 5);
    const channel = new RoomChannel('r', epoch, 0, store, () => {});
    const sub = recorder();
    channel.subscribers.add(sub);
    channel.receive(epoch, entries[5]!); // 1-4 trimmed before this node had them, 5 lost on the way
    await waitFor(() => sub.seqs.length === 2, 3000, 'what is retained delivered');
    assert.deepEqual(sub.seqs, [5, 6]);
  });

  it('gathers what arrives within one event-loop turn into one batch', async () => {
    const { store, entries, epoch } = await storeWith(50);
    const channel = new RoomChannel('r', epoch, 0, store, () => {});
    const sub = recorder();
    channel.subscribers.add(sub);
    for (const e of entries) channel.receive(epoch, e);
    await waitFor(() => sub.seqs.length === 50);
    assert.equal(sub.batches, 1);
  });

  it('a subscriber catching up gets held live batches only after its position', async () => {
    const { store, entries, epoch } = await storeWith(5);
    const channel = new RoomChannel('r', epoch, 2, store, () => {});
    const sub = recorder(0);
    channel.addCatchingUp(sub);
    channel.receive(epoch, entries[2]!);
    channel.receive(epoch, entries[3]!);
    await new Promise((r) => setImmediate(r));
    assert.equal(sub.seqs.length, 0, 'held while replaying');
    // The replay read up to seq 4 from the store.
    sub.position = 4;
    sub.seqs.push(1, 2, 3, 4);
    channel.caughtUp(sub);
    channel.receive(epoch, entries[4]!);
    await waitFor(() => sub.seqs.length === 5);
    assert.deepEqual(sub.seqs, [1, 2, 3, 4, 5]);
  });

  it('ends every subscriber when the history is reset (a new epoch)', async () => {
    const { store, entries, epoch } = await storeWith(3);
    const channel = new RoomChannel('r', epoch, 0, store, () => {});
    const sub = recorder();
    channel.subscribers.add(sub);
    channel.receive(epoch, entries[0]!);
    await waitFor(() => sub.seqs.length === 1);
    channel.receive('newepoch', { ...entries[0]!, seq: 1 });
    assert.equal(sub.resets, 1);
    assert.equal(channel.size, 0);
  });
});

describe('RoomChannel: typing notices', () => {
  it('forgets the notices that ran out as new ones come, though no poll asks who is typing', async () => {
    const channel = new RoomChannel('r', 'e', 0, new MemoryStore(), () => {});
    channel.subscribers.add(recorder());
    // A guest claiming a new member with each notice, in a room no one polls.
    for (let i = 0; i < 1000; i++) channel.typingNotice({ room: 'r', from: { id: `c${i}`, name: `n${i}`, member: `m${i}` } }, 500);
    assert.equal(channel.typing.size, 1000);
    await new Promise((r) => setTimeout(r, 550));
    channel.typingNotice({ room: 'r', from: { id: 'c', name: 'ann', member: 'ann' } }, 500);
    assert.deepEqual([...channel.typing.keys()], ['ann']);
    // The same typist again: one entry, ending last.
    channel.typingNotice({ room: 'r', from: { id: 'b', name: 'bob', member: 'bob' } }, 500);
    channel.typingNotice({ room: 'r', from: { id: 'c', name: 'ann', member: 'ann' } }, 500);
    assert.deepEqual([...channel.typing.keys()], ['bob', 'ann']);
    assert.deepEqual(channel.typingNow().map((f) => f.member), ['bob', 'ann']);
  });
});

describe('RoomChannel: presence notices', () => {
  it("each notice moves presenceAt on, one that carries an earlier time (a node whose clock is behind) or the same millisecond too", () => {
    const channel = new RoomChannel('r', 'e', 0, new MemoryStore(), () => {});
    const seen: number[] = [];
    const notice = (at: number): void => {
      channel.presenceNotice({ room: 'r', members: [], at });
      seen.push(channel.presenceAt);
    };
    notice(10_000);
    notice(9_000); // another node, its clock 1 s behind
    notice(10_001); // the same millisecond as the value before
    notice(20_000);
    assert.equal(seen[0], 10_000);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `notice ${i} moved presenceAt on: ${seen.join(', ')}`);
    assert.equal(seen.at(-1), 20_000, 'a later time is taken as it is');
  });
});

describe('RoomChannel: deliveries paced while the process is behind (DeliveryPace)', () => {
  it('the interval is the wait for a turn, up to the most, and 0 below BEHIND_MS or when turned off', () => {
    let wait = 0;
    const pace = new DeliveryPace(250, () => wait);
    assert.equal(pace.interval(), 0, 'nothing waits');
    wait = BEHIND_MS - 1;
    assert.equal(pace.interval(), 0, 'the burst of polls after a delivery is not being behind');
    wait = 180;
    assert.equal(pace.interval(), 180);
    wait = 5000;
    assert.equal(pace.interval(), 250);
    assert.equal(new DeliveryPace(0, () => 5000).interval(), 0, '--max-delivery-delay-ms 0');
  });

  it('while clients wait long for their turn, what comes within the interval after a delivery leaves as one batch; a lone entry leaves at once', async () => {
    const { store, entries, epoch } = await storeWith(6);
    let wait = 300;
    const pace = new DeliveryPace(200, () => wait);
    const channel = new RoomChannel('r', epoch, 0, store, () => {}, pace);
    const sub = recorder();
    const times: number[] = [];
    const deliver = sub.deliver.bind(sub);
    sub.deliver = (batch: Batch) => {
      times.push(performance.now());
      deliver(batch);
    };
    channel.subscribers.add(sub);
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

    // The room has not delivered for longer than the interval: the first entry is not held.
    const first = performance.now();
    channel.receive(epoch, entries[0]!);
    await waitFor(() => sub.batches === 1, 1000, 'first batch');
    assert.ok(times[0]! - first < 100, `a lone entry waited ${times[0]! - first} ms`);
    // Two more within the interval: held, then one batch.
    channel.receive(epoch, entries[1]!);
    await sleep(20);
    channel.receive(epoch, entries[2]!);
    await sleep(50);
    assert.equal(sub.batches, 1, 'held while the room delivered less than the interval ago');
    await waitFor(() => sub.batches === 2, 2000, 'second batch');
    assert.deepEqual(sub.seqs, [1, 2, 3], 'in order, each once');
    assert.ok(times[1]! - times[0]! >= 190, `the second batch left ${times[1]! - times[0]!} ms after the first (interval 200)`);
    assert.equal(pace.paced, 1);

    // Nobody waits: each entry leaves in the turn it came.
    wait = 0;
    channel.receive(epoch, entries[3]!);
    await waitFor(() => sub.batches === 3, 1000, 'third batch');
    channel.receive(epoch, entries[4]!);
    await waitFor(() => sub.batches === 4, 1000, 'fourth batch');
    assert.ok(times[3]! - times[2]! < 100, 'not held');
    assert.deepEqual(sub.seqs, [1, 2, 3, 4, 5]);
    assert.equal(pace.paced, 1);
  });
});
