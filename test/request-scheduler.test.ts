import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestScheduler } from '../src/server/request-scheduler.js';
import { ACCEPT_FIRST_MS, TurnBudget } from '../src/server/turn-budget.js';

/** Keeps the CPU busy for `ms` (a request that costs that much). */
function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('RequestScheduler', () => {
  it('runs at once while the turn budget lasts and nobody waits', () => {
    const s = new RequestScheduler({ budget: new TurnBudget(50), maxWaitingPerAddress: 10 });
    let ran = 0;
    assert.equal(s.run('a', () => ran++), true);
    assert.equal(ran, 1);
    assert.equal(s.size, 0);
  });

  it('serves another address within a turn or two of a burst from one address, not after it', async () => {
    const s = new RequestScheduler({ budget: new TurnBudget(5), maxWaitingPerAddress: 1000 });
    const order: string[] = [];
    // 300 requests of 1 ms each from one address, read in one poll: 300 ms of work.
    for (let i = 0; i < 300; i++) s.run('attacker', () => (burn(1), order.push('a')));
    const arrived = order.length;
    s.run('probe', () => order.push('probe'));
    const started = performance.now();
    while (!order.includes('probe') && performance.now() - started < 10_000) await tick();
    assert.ok(order.includes('probe'), 'the probe never ran');
    // Those that ran at once (the budget's ~5 ms) came before the probe; of the 290-odd waiting
    // ones, one round-robin round at most runs before it.
    const after = order.indexOf('probe') - arrived;
    assert.ok(after <= 1, `${after} of the attacker's requests ran between the probe's arrival and its answer`);
    while (s.size > 0) await tick();
    assert.equal(order.filter((o) => o === 'a').length, 300, 'every queued request ran');
  });

  it('counts the promise continuations of a started request against the budget', async () => {
    const budget = new TurnBudget(5);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 1000 });
    const order: string[] = [];
    // This turn's budget is spent: everything waits.
    budget.available();
    burn(6);
    // The work of each request is after an await (a body read, a store call).
    for (let i = 0; i < 100; i++) {
      s.run('attacker', () => {
        void Promise.resolve().then(() => (burn(1), order.push('a')));
      });
    }
    s.run('probe', () => order.push('probe'));
    while (!order.includes('probe')) await tick();
    // Were continuations not counted, a whole turn of 64 started requests would run first.
    assert.ok(order.indexOf('probe') <= 1, `the probe ran after ${order.indexOf('probe')} of the attacker's requests`);
    while (s.size > 0) await tick();
  });

  it('refuses past maxWaitingPerAddress, per address', () => {
    const budget = new TurnBudget(0);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 3 });
    const results = Array.from({ length: 5 }, () => s.run('a', () => {}));
    assert.deepEqual(results, [true, true, true, false, false]);
    assert.equal(s.run('b', () => {}), true, 'another address still gets in');
  });
  it('runs no request while connections are accepted turn after turn, then serves a newcomer first', async () => {
    const budget = new TurnBudget(5);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 1000 });
    const order: string[] = [];
    budget.noteAccept();
    for (let i = 0; i < 20; i++) s.run('attacker', () => order.push('a'));
    // libuv accepts one connection per turn: five more turns with an accept each.
    for (let t = 0; t < 5; t++) {
      await tick();
      budget.noteAccept();
      assert.equal(order.length, 0, `a request ran while connections were still being accepted (turn ${t})`);
    }
    s.run('probe', () => order.push('probe'));
    // The kernel's queue is empty: no more accepts, the requests run, the newcomer in the first round.
    const started = performance.now();
    while (order.length < 21 && performance.now() - started < 5000) await tick();
    assert.equal(order.length, 21, 'every request ran once accepting was over');
    assert.ok(order.indexOf('probe') <= 1, `the probe ran after ${order.indexOf('probe')} of the attacker's requests`);
  });

  it('gives requests a turn after ACCEPT_FIRST_MS of accepting, however long connections keep coming', async () => {
    const budget = new TurnBudget(5);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 1000 });
    let ran = 0;
    budget.noteAccept();
    const started = performance.now();
    s.run('a', () => ran++);
    while (ran === 0 && performance.now() - started < 2000) {
      await tick();
      budget.noteAccept();
    }
    const waited = performance.now() - started;
    assert.equal(ran, 1, 'the request never ran while connections kept coming');
    assert.ok(waited >= ACCEPT_FIRST_MS - 1, `it ran after ${waited.toFixed(1)} ms, before the accepting time was over`);
    assert.ok(waited < ACCEPT_FIRST_MS + 200, `it waited ${waited.toFixed(1)} ms`);
  });
});
