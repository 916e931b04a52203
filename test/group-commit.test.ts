import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit } from '../src/server/store/group-commit.js';

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A queue whose batches take `runMs` to run (a busy wait, as a synchronous sync would) and are recorded. */
function recording(runMs: number, maxWaitMs = 10) {
  const batches: number[][] = [];
  const queue = new GroupCommit<number, number>(
    (items) => {
      const until = performance.now() + runMs;
      while (performance.now() < until);
      batches.push([...items]);
      return items.map((n) => (n < 0 ? { ok: false as const, error: new Error(`refused ${n}`) } : { ok: true as const, value: n * 10 }));
    },
    (err) => err,
    { maxBatchSize: 100, maxWaitMs },
  );
  return { queue, batches };
}

describe('GroupCommit', () => {
  it('runs a lone item on the next turn, without waiting for company', async () => {
    const { queue, batches } = recording(5);
    for (let i = 0; i < 5; i++) await queue.submit(i); // batches have taken 5 ms: the queue would wait if more came
    let done = false;
    void queue.submit(99).then(() => (done = true));
    await nextTurn();
    await nextTurn();
    assert.equal(done, true);
    assert.deepEqual(batches.at(-1), [99]);
  });

  it('while items keep coming turn after turn (a busy server), waits about as long as a batch runs, then runs them together', async () => {
    const { queue, batches } = recording(5);
    for (let i = 0; i < 10; i++) await queue.submit(i);
    const before = batches.length;
    const pending: Promise<number>[] = [];
    // Two per turn: a turn that queues more than one item is a busy one.
    for (let i = 0; i < 40; i += 2) {
      pending.push(queue.submit(100 + i), queue.submit(101 + i));
      await nextTurn();
    }
    assert.deepEqual(await Promise.all(pending), Array.from({ length: 40 }, (_, i) => (100 + i) * 10));
    const sizes = batches.slice(before).map((b) => b.length);
    // Without waiting they would run as 20 batches of 2 (as the next test shows).
    assert.ok(sizes.length < 15, `40 items over 20 turns ran in ${sizes.length} batches: ${sizes.join(', ')}`);
    assert.deepEqual(batches.slice(before).flat(), Array.from({ length: 40 }, (_, i) => 100 + i));
  });

  it('does not wait when batches run fast', async () => {
    const { queue, batches } = recording(0);
    for (let i = 0; i < 10; i++) await queue.submit(i);
    const before = batches.length;
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 40; i += 2) {
      pending.push(queue.submit(100 + i), queue.submit(101 + i));
      await nextTurn();
    }
    await Promise.all(pending);
    // Each turn's pair on its own (a stall of the machine within a batch may merge a few).
    assert.ok(batches.length - before >= 15, batches.slice(before).map((b) => b.length).join(', '));
  });

  it('never waits with maxWaitMs 0, and runs a full batch at once', async () => {
    const { queue, batches } = recording(5, 0);
    for (let i = 0; i < 3; i++) await queue.submit(i);
    const pending = Array.from({ length: 250 }, (_, i) => queue.submit(i));
    assert.deepEqual(
      batches.slice(3).map((b) => b.length),
      [100, 100],
    );
    await Promise.all(pending);
    assert.deepEqual(batches.slice(3).map((b) => b.length), [100, 100, 50]);
  });

  it('settles each item with its own outcome, or every item with the batch error', async () => {
    const { queue } = recording(0);
    const outcomes = await Promise.allSettled([queue.submit(1), queue.submit(-1), queue.submit(2)]);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)),
      [10, 'refused -1', 20],
    );
    const failing = new GroupCommit<number, number>(
      () => {
        throw new Error('disk full');
      },
      (err) => new Error(`unavailable: ${(err as Error).message}`),
      { maxBatchSize: 10, maxWaitMs: 10 },
    );
    const all = await Promise.allSettled([failing.submit(1), failing.submit(2)]);
    assert.deepEqual(all.map((o) => o.status === 'rejected' && (o.reason as Error).message), ['unavailable: disk full', 'unavailable: disk full']);
    assert.deepEqual(failing.stats(), { commits: 1, items: 2, largestBatch: 2, busyRetries: 0 });
  });
  /** A queue whose runner finds the lock busy (when it may not wait) while `busy()` says so. */
  function lockable(busy: () => boolean, timeoutMs = 1000) {
    const calls: { items: number[]; mayWait: boolean }[] = [];
    const queue = new GroupCommit<number, number>(
      (items, mayWait) => {
        calls.push({ items: [...items], mayWait });
        if (!mayWait && busy()) throw Object.assign(new Error('locked'), { code: 'BUSY' });
        return items.map((n) => ({ ok: true as const, value: n }));
      },
      (err) => new Error(`unavailable: ${(err as Error).message}`),
      { maxBatchSize: 100, maxWaitMs: 0, busy: { isBusy: (err) => (err as { code?: string }).code === 'BUSY', timeoutMs } },
    );
    return { queue, calls };
  }

  it('tries a batch that found the lock busy again later, without blocking, with what came meanwhile behind it', async () => {
    let busyTries = 3;
    const { queue, calls } = lockable(() => busyTries-- > 0);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const first = queue.submit(1);
    await nextTurn();
    await nextTurn();
    const second = queue.submit(2);
    const results = await Promise.all([first, second]);
    clearInterval(ticker);
    assert.deepEqual(results, [1, 2]);
    assert.deepEqual(calls.at(-1), { items: [1, 2], mayWait: false }, 'the retry took the item that came meanwhile, behind the first');
    assert.equal(calls.length, 4, 'three busy tries, then the commit');
    assert.ok(turns >= 2, `timers ran while it waited (${turns})`);
    assert.deepEqual(queue.stats(), { commits: 1, items: 2, largestBatch: 2, busyRetries: 3 });
  });

  it('flush() runs a batch that waits for a busy lock at once, allowed to wait for it', async () => {
    const { queue, calls } = lockable(() => true);
    let settled = false;
    const pending = queue.submit(7).then((v) => ((settled = true), v));
    await nextTurn();
    await nextTurn();
    assert.equal(settled, false, 'nothing settled while the lock was busy');
    queue.flush();
    assert.deepEqual(calls.at(-1), { items: [7], mayWait: true });
    assert.equal(await pending, 7);
    assert.equal(queue.pending, 0);
  });

  it('fails a batch that found the lock busy for longer than timeoutMs with the batch error, then goes on', async () => {
    let locked = true;
    const { queue } = lockable(() => locked, 20);
    const started = performance.now();
    await assert.rejects(queue.submit(1), /unavailable: locked/);
    assert.ok(performance.now() - started >= 20);
    locked = false;
    assert.equal(await queue.submit(2), 2);
  });
});
