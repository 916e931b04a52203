import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PollTimers, type Timed } from '../src/server/poll-timers.js';

function timed(name: string, expired: string[]): Timed & { name: string } {
  return { name, timerPrev: undefined, timerNext: undefined, timerQueue: undefined, deadline: 0, expire: () => expired.push(name) };
}

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits until `done` (checked every few ms), at most `ms`: a busy machine runs timers late, never early. */
async function until(done: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await sleep(5);
}

describe('PollTimers', () => {
  it('expires each poll once its timeout passed, in the order of their deadlines, and not one let go before', async () => {
    const timers = new PollTimers();
    const expired: string[] = [];
    const at = new Map<string, number>();
    const poll = (name: string): Timed => ({ ...timed(name, expired), expire: () => (expired.push(name), at.set(name, performance.now())) });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(poll);
    const t0 = performance.now();
    timers.add(a!, 60);
    timers.add(b!, 60);
    timers.add(d!, 5);
    await sleep(30);
    const t1 = performance.now();
    timers.add(c!, 60);
    timers.delete(b!);
    timers.delete(b!);
    await until(() => expired.length >= 3);
    await sleep(20);
    assert.deepEqual(expired, ['d', 'a', 'c']);
    assert.ok(at.get('d')! - t0 >= 4 && at.get('a')! - t0 >= 59 && at.get('c')! - t1 >= 59, 'none before its deadline');
  });

  it('keeps no timer once no poll waits (nothing holds the process)', async () => {
    const before = timeouts();
    const timers = new PollTimers();
    const expired: string[] = [];
    const polls = ['a', 'b'].map((n) => timed(n, expired));
    for (const p of polls) timers.add(p, 60_000);
    assert.equal(timeouts(), before + 1, 'one timer for both');
    for (const p of polls) timers.delete(p);
    assert.equal(timeouts(), before);
    timers.add(polls[0]!, 1);
    await sleep(20);
    assert.deepEqual(expired, ['a']);
    assert.equal(timeouts(), before);
  });

  it('keeps nothing per timeout length once its polls are gone: a client naming every length in turn leaves no queue behind', async () => {
    const timers = new PollTimers();
    const expired: string[] = [];
    for (let ms = 0; ms <= 120_000; ms += 7) {
      const t = timed(`t${ms}`, expired);
      timers.add(t, ms);
      timers.delete(t);
    }
    assert.equal(timers.lengths, 0, 'no queue left');
    const a = timed('a', expired);
    const b = timed('b', expired);
    timers.add(a, 5);
    // Far enough behind a's second deadline that a late timer (a busy machine) keeps the order.
    timers.add(b, 400);
    assert.equal(timers.lengths, 2);
    await until(() => expired.length >= 1);
    assert.deepEqual(expired, ['a']);
    assert.equal(timers.lengths, 1, 'the queue that expired its last poll is gone too');
    timers.add(a, 5); // a length whose queue left comes back
    await until(() => expired.length >= 3);
    assert.deepEqual(expired, ['a', 'a', 'b']);
    assert.equal(timers.lengths, 0);
  });

  it('a timeout of 0 expires in the next turn of timers', async () => {
    const timers = new PollTimers();
    const expired: string[] = [];
    timers.add(timed('now', expired), 0);
    assert.deepEqual(expired, []);
    await sleep(5);
    assert.deepEqual(expired, ['now']);
  });
});
