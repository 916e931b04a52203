import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { BEHIND_MS } from '../src/server/delivery-pace.js';
import { RequestScheduler } from '../src/server/request-scheduler.js';
import { ACCEPT_FIRST_MS, TurnBudget } from '../src/server/turn-budget.js';
import { postJson, request, startServer, waitFor } from './helpers.js';

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

  it('tells how long requests of several addresses have waited without a break (backlogMs, what DeliveryPace reads), 0 once they do not', async () => {
    const budget = new TurnBudget(5);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 1000 });
    assert.equal(s.backlogMs(), 0, 'nothing waits');
    // This turn's budget is spent: 40 addresses with 2 requests of 4 ms each wait, a round of them some 160 ms.
    budget.available();
    burn(6);
    const arrived = performance.now();
    for (let i = 0; i < 80; i++) s.run(`a${i % 40}`, () => burn(4));
    while (performance.now() - arrived < 200 && s.size > 0) await tick();
    assert.ok(s.size > 0, 'still waiting');
    const standing = s.backlogMs();
    assert.ok(standing >= 190 && standing <= performance.now() - arrived, `waited without a break since they came: ${standing} ms`);
    while (s.size > 0) await tick();
    assert.equal(s.backlogMs(), 0, 'none waits');
  });

  it("one address's flood is no backlog: its hundreds of requests waiting, the others served each round, do not count", async () => {
    const budget = new TurnBudget(5);
    const s = new RequestScheduler({ budget, maxWaitingPerAddress: 1000 });
    budget.available();
    burn(6);
    // 300 requests of 1 ms each from one address: 300 ms of work waits.
    for (let i = 0; i < 300; i++) s.run('attacker', () => burn(1));
    let most = 0;
    let probes = 0;
    const arrived = performance.now();
    while (s.size > 0) {
      await tick();
      most = Math.max(most, s.backlogMs());
      // Now and then another client asks something: it is served in the next round.
      if (performance.now() - arrived > probes * 50) {
        probes++;
        s.run(`probe${probes}`, () => {});
      }
    }
    assert.ok(performance.now() - arrived >= 200, 'the flood took its time');
    assert.ok(probes >= 4);
    assert.ok(most < BEHIND_MS, `requests of several addresses waited ${most} ms without a break`);
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

describe('stream opens on a busy server', () => {
  it('an SSE open runs when it comes, not behind the requests its address has waiting (as a WebSocket upgrade)', async () => {
    const s = await startServer({ queryRatePerSecond: 1_000_000, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
    const sockets: net.Socket[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      for (let i = 0; i < 100; i++) assert.equal((await postJson(`${s.url}/api/rooms/R/messages`, { text: `${i} ${'x'.repeat(1000)}` })).status, 201);
      // 200 keep-alive connections of one address, open before the burst.
      const answered = new Set<net.Socket>();
      for (let i = 0; i < 200; i++) {
        const socket = net.connect(s.port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('data', () => answered.add(socket));
        sockets.push(socket);
      }
      await Promise.all(sockets.map((socket) => new Promise((r) => (socket.connecting ? socket.once('connect', r) : r(undefined)))));
      // A burst of reads that costs well over a turn's budget: most of it waits for later turns.
      for (const socket of sockets) socket.write('GET /api/rooms/R/messages?limit=100 HTTP/1.1\r\nHost: x\r\n\r\n');
      let answeredBefore = -1;
      const sse = net.connect(s.port, '127.0.0.1', () => sse.write('GET /api/rooms/R/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n'));
      sockets.push(sse);
      let text = '';
      sse.on('data', (c: Buffer) => {
        text += c.toString();
        if (answeredBefore < 0 && text.includes('event: ready')) answeredBefore = answered.size;
      });
      await waitFor(() => answered.size === 200 && answeredBefore >= 0, 10_000, 'every answer and the stream');
      // Behind them all it would come after the 200 (it did before stream opens ran at once).
      assert.ok(answeredBefore < 100, `the stream was ready after ${answeredBefore} of the 200 reads were answered`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await s.server.close();
    }
  });

  it('a flood of SSE opens from one address is refused past its connect budget, and another address is served meanwhile', async () => {
    // Defaults: 20 connections a second per address, burst 100.
    const s = await startServer();
    const sockets: net.Socket[] = [];
    try {
      const heads: string[] = [];
      // The opens that had their answer's head, or their socket closed unanswered (past the
      // sockets an address may hold: capSocketsPerAddress).
      const settled = new Set<net.Socket>();
      // The budget refills while the burst is read (20 a second): on a slow machine the 400
      // opens take a second or more, and those refills are the budget too.
      const started = performance.now();
      let lastOpen = started;
      for (let i = 0; i < 400; i++) {
        const socket = net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.7' }, () => socket.write('GET /api/rooms/lobby/events HTTP/1.1\r\nHost: x\r\n\r\n'));
        let head = '';
        socket.on('data', (c: Buffer) => {
          if (head) return;
          heads.push((head = c.toString().split('\r\n')[0]!));
          if (head.startsWith('HTTP/1.1 200')) lastOpen = performance.now();
          settled.add(socket);
        });
        socket.on('close', () => settled.add(socket));
        socket.on('error', () => {});
        sockets.push(socket);
      }
      // Meanwhile another address asks for its health, five times.
      const took: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const answer = await new Promise<string>((resolve, reject) => {
          const probe = net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.8' }, () => probe.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
          let text = '';
          probe.on('data', (c: Buffer) => (text += c.toString()));
          probe.on('end', () => resolve(text));
          probe.on('error', reject);
        });
        took.push(performance.now() - t0);
        assert.match(answer, /^HTTP\/1\.1 200/);
      }
      // Each open is a stream, a 429 (the address's connect budget), or a socket closed unanswered.
      await waitFor(() => settled.size === 400, 10_000, 'an answer or a close for every open');
      const opened = heads.filter((h) => h.startsWith('HTTP/1.1 200')).length;
      const refused = heads.filter((h) => h.startsWith('HTTP/1.1 429')).length;
      assert.equal(opened + refused, heads.length, heads.filter((h) => !/ (200|429) /.test(h)).slice(0, 3).join(' | '));
      assert.ok(refused > 0, 'none refused');
      const budget = 100 + Math.ceil((20 * (lastOpen - started)) / 1000) + 10;
      assert.ok(opened <= budget, `${opened} streams opened from one address in one burst of ${(lastOpen - started).toFixed(0)} ms (budget ${budget})`);
      assert.ok(Math.max(...took) < 2000, `/healthz of another address took up to ${Math.max(...took).toFixed(0)} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await s.server.close();
    }
  });
});
