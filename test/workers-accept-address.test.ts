/**
 * `switchboard serve --workers 2 --worker-accept address` as real processes (the built CLI): the
 * primary listens and hands every connection of one client address to one worker, so the caps and
 * budgets of an address hold for the machine. The same checks against `--worker-accept primary`
 * (node:cluster's round-robin) show what they guard against: there, each worker gives an address
 * its own cap (the budgets the workers share, whatever the accept mode: workers/shared-limits.ts).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { clientOf } from '../src/server/client-of.js';
import { slotOf } from '../src/server/workers/address-acceptor.js';
import { WorkersProcess } from './fixtures/workers-process.js';
import { waitFor } from './helpers.js';
import { connectRaw, type Raw } from './helpers/raw-socket.js';
import { assertOneBudget, heardCounts, pacedPublishes, type PacedPublishes } from './helpers/shared-limits.js';

const built = existsSync('dist/src/cli/index.js');

/** One request from `localAddress`, on a connection of its own unless `agent` keeps them alive: its status and body, or an error past `timeoutMs`. */
function request(server: WorkersProcess, localAddress: string, method: string, path: string, body?: string, agent: http.Agent | false = false, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, localAddress, method, path, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    // A connection handed to a worker at the instant it died is never answered.
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.end(body);
  });
}

/** The workers whose access log shows a request of `path` from `address` (written as IPv4-mapped or not). */
/** The access-log lines of the requests to `path` from `address`. */
function requestsFrom(server: WorkersProcess, path: string, address: string): Record<string, unknown>[] {
  return server.lines.filter((l) => l.msg === 'request' && l.path === path && String(l.address).replace(/^::ffff:/, '') === address);
}

function nodesServing(server: WorkersProcess, path: string, address: string): Set<string> {
  return new Set(requestsFrom(server, path, address).map((l) => String(l.node)));
}

/**
 * `n` publishes to the lecture's `/update` from `address`, each on a connection of its own, one
 * after the other, `gapMs` apart: what a worker's clients spent reaches the others a turn or two
 * later (docs/operations.md, Workers), so a client quicker than that may pass its budget by one
 * (CI once saw 6 of 10 back to back through node:cluster's round robin, the publish after the 5th
 * on the other worker before it heard of the 5th). Anything but 200 or 429 fails.
 */
function publishes(server: WorkersProcess, address: string, n: number, gapMs = 0): Promise<PacedPublishes> {
  return pacedPublishes(n, gapMs, async (i) => {
    const r = await request(server, address, 'POST', '/update', JSON.stringify({ text: `m${i}` }));
    if (r.status !== 200 && r.status !== 429) assert.fail(`unexpected ${r.status} ${r.body}`);
    return r.status;
  });
}

/**
 * Opens `n` silent sockets from `address`: those the server closed at once, and the ones it kept.
 * Waits until `closing` of them are closed (a busy machine may take a while), then a moment more,
 * in which any closed past them would be.
 */
async function silentSockets(server: WorkersProcess, address: string, n: number, closing = 0): Promise<{ kept: Raw[]; closed: number }> {
  const raws: Raw[] = [];
  for (let i = 0; i < n; i++) raws.push(await connectRaw(server.port, address));
  const closed = (): number => raws.filter((r) => r.closedAfter !== undefined).length;
  await waitFor(() => closed() >= closing, 5000, `${closing} of the ${n} sockets closed`);
  await sleep(500);
  return { kept: raws.filter((r) => r.closedAfter === undefined), closed: closed() };
}

describe('slotOf (the worker slot of a client address)', () => {
  const slot = (address: string, slots = 8): number => slotOf(clientOf(address), slots);

  it('is one for every address of an IPv6 /64, and for an IPv4 address however it is written', () => {
    assert.equal(slot('2001:db8:1:2::1'), slot('2001:0db8:0001:0002:ffff:eeee:dddd:cccc'));
    assert.equal(slot('2001:db8:1:2::1'), slot('2001:db8:1:2:0:0:0:2'));
    assert.equal(slot('203.0.113.7'), slot('::ffff:203.0.113.7'));
    assert.equal(slot('203.0.113.7'), slot('64:ff9b::203.0.113.7'));
  });

  it('spreads addresses over the slots, each below the count', () => {
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 4000; i++) counts[slot(`10.${(i >> 8) & 255}.${i & 255}.1`, 4)]!++;
    for (const c of counts) assert.ok(c > 800 && c < 1200, `an uneven spread: ${counts.join(', ')}`);
    for (let i = 0; i < 100; i++) assert.ok(slot(`2001:db8:${i}::1`, 3) < 3);
  });
});

// A guest's burst of 5 publishes, 1 a second after it; 1 connection per address (the socket cap is it plus 64); a short headers deadline.
const ARGS = ['--workers', '2', '--rate-limit', '1', '--rate-burst', '5', '--max-connections-per-address', '1', '--headers-timeout-ms', '1000', '--shutdown-timeout-ms', '2000'];

/** Workers with ARGS and `--worker-accept accept` (and `more`), started before the suite in a data dir of their own, killed and removed after it. */
function workersFor(accept: 'address' | 'primary', more: string[] = []): { server: WorkersProcess } {
  const held = {} as { server: WorkersProcess; dataDir: string };
  before(async () => {
    held.dataDir = await mkdtemp(join(tmpdir(), `sb-accept-${accept}-`));
    held.server = await WorkersProcess.start([...ARGS, '--worker-accept', accept, '--data-dir', held.dataDir, ...more]);
  });
  after(async () => {
    await held.server?.kill('SIGKILL');
    if (held.dataDir) await rm(held.dataDir, { recursive: true, force: true });
  });
  return held;
}

describe('--workers 2 --worker-accept address', { skip: built ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  const workers = workersFor('address');
  let server: WorkersProcess;
  before(() => (server = workers.server));

  it('every connection of an address goes to one worker, and addresses spread over both', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await request(server, '127.0.0.2', 'GET', '/healthz')).status, 200);
    for (let a = 3; a <= 10; a++) assert.equal((await request(server, `127.0.0.${a}`, 'GET', '/healthz')).status, 200);
    await waitFor(() => server.lines.filter((l) => l.msg === 'request' && l.path === '/healthz').length >= 14, 5000, 'the access log lines');
    assert.equal(nodesServing(server, '/healthz', '127.0.0.2').size, 1);
    const all = new Set<string>();
    for (let a = 2; a <= 10; a++) for (const node of nodesServing(server, '/healthz', `127.0.0.${a}`)) all.add(node);
    assert.deepEqual([...all].sort(), ['w1', 'w2']);
  });

  it("the primary keeps at most 512 connections of one address waiting for its worker: a stopped worker's address is refused past them, another address is served meanwhile", async () => {
    const nodeOf = (address: string): string => [...nodesServing(server, '/healthz', address)][0]!;
    const stuck = '127.0.0.2';
    const other = ['127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9', '127.0.0.10'].find((a) => nodeOf(a) !== nodeOf(stuck))!;
    const pid = server.pidOf(nodeOf(stuck));
    process.kill(pid, 'SIGSTOP');
    try {
      // Two on their way to the stopped worker (one in its IPC channel, one in node's queue behind
      // it), 512 waiting in the primary, the other 6 closed at once.
      const { kept, closed } = await silentSockets(server, stuck, 520, 6);
      assert.equal(closed, 6);
      assert.equal((await request(server, other, 'GET', '/healthz')).status, 200);
      await server.waitForLog((l) => l.role === 'primary' && l.msg === 'too many connections of one address wait for their worker: one closed', 5000, 'the warning');
      for (const r of kept) r.socket.destroy();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const metrics = await request(server, other, 'GET', '/metrics');
    assert.match(metrics.body, /^switchboard_primary_refused_connections_total 6$/m);
  });

  it('a worker that dies before it took the connections on their way to it: they are closed, not left unanswered', async () => {
    await request(server, '127.0.0.21', 'GET', '/healthz');
    await waitFor(() => nodesServing(server, '/healthz', '127.0.0.21').size === 1, 5000, 'the request logged');
    const pid = server.pidOf([...nodesServing(server, '/healthz', '127.0.0.21')][0]!);
    const mark = server.lines.length;
    process.kill(pid, 'SIGSTOP');
    // The first is written into its channel (node keeps the handle until the worker says it got it), the second waits in node's queue behind it.
    const raws = [await connectRaw(server.port, '127.0.0.21'), await connectRaw(server.port, '127.0.0.21')];
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(raws.map((r) => r.closedAfter), [undefined, undefined]);
    process.kill(pid, 'SIGKILL');
    await server.waitForLog((l) => server.lines.indexOf(l) >= mark && l.msg === 'worker died: restarting it', 10_000, 'the death noticed');
    await waitFor(() => raws.every((r) => r.closedAfter !== undefined), 5000, 'both connections closed');
    assert.equal((await request(server, '127.0.0.21', 'GET', '/healthz')).status, 200);
    await server.waitForLog((l) => server.lines.indexOf(l) >= mark && typeof l.msg === 'string' && l.msg.startsWith('Switchboard serving the connections handed to it'), 30_000, 'the new worker');
  });

  it('WebSocket upgrades and SSE streams come over handed connections: a message published reaches both', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/ws?name=w`, { localAddress: '127.0.0.18' });
    const frames: { type: string; text?: string }[] = [];
    ws.on('message', (d: Buffer) => frames.push(JSON.parse(d.toString()) as { type: string; text?: string }));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(JSON.stringify({ type: 'subscribe', room: 'handed', create: true }));
    await waitFor(() => frames.some((f) => f.type === 'subscribed'), 5000, 'the subscription');
    let sse = '';
    const stream = http.get({ host: '127.0.0.1', port: server.port, path: '/api/rooms/handed/events', localAddress: '127.0.0.19', agent: false, headers: { accept: 'text/event-stream' } }, (res) => res.setEncoding('utf8').on('data', (c: string) => (sse += c)));
    await waitFor(() => sse.length > 0, 5000, 'the stream to open');
    assert.equal((await request(server, '127.0.0.20', 'POST', '/api/rooms/handed/messages', JSON.stringify({ text: 'over handed sockets', name: 'p' }))).status, 201);
    await waitFor(() => frames.some((f) => f.type === 'message' && f.text === 'over handed sockets') && sse.includes('over handed sockets'), 5000, 'the message on both');
    ws.close();
    stream.destroy();
  });

  it("a guest's publish budget holds for the machine: 5 of 10 publishes on fresh connections, the rest 429", async () => {
    assertOneBudget(await publishes(server, '127.0.0.11', 10), 5, 1);
  });

  it('the socket cap of an address holds for the machine: 65 silent sockets kept, the next 5 closed at once', async () => {
    const { kept, closed } = await silentSockets(server, '127.0.0.12', 70);
    assert.equal(kept.length, 65);
    assert.equal(closed, 5);
    for (const r of kept) r.socket.destroy();
  });

  it('a handed connection keeps the headers deadline: a request never finished is answered 408 and closed', async () => {
    const raw = await connectRaw(server.port, '127.0.0.13');
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await waitFor(() => raw.closedAfter !== undefined, 5000, 'the unfinished request to be closed');
    assert.match(raw.received, /^HTTP\/1\.1 408 /);
  });

  it("kill -9 of an address's worker: the other takes its connections until the new one is up, then the new one has them", async () => {
    await request(server, '127.0.0.14', 'GET', '/healthz');
    await waitFor(() => nodesServing(server, '/healthz', '127.0.0.14').size === 1, 5000, 'the first request logged');
    const first = [...nodesServing(server, '/healthz', '127.0.0.14')][0]!;
    const mark = server.lines.length;
    process.kill(server.pidOf(first), 'SIGKILL');
    // Once the primary knows (and before the new worker is up: node takes some 300 ms to start one), the other worker serves the address.
    await server.waitForLog((l) => server.lines.indexOf(l) >= mark && l.msg === 'worker died: restarting it', 10_000, 'the death noticed');
    const away = server.lines.length;
    assert.equal((await request(server, '127.0.0.14', 'GET', '/healthz')).status, 200);
    const up = await server.waitForLog((l) => server.lines.indexOf(l) >= mark && typeof l.msg === 'string' && l.msg.startsWith('Switchboard serving the connections handed to it'), 30_000, 'the new worker');
    const whileAway = server.lines.slice(away).find((l) => l.msg === 'request' && l.path === '/healthz');
    assert.notEqual(whileAway?.node, first);
    // Once the primary has the new worker's word that it is ready (just after the line above), the address is back on its slot's worker.
    const deadline = Date.now() + 5000;
    const servedBy = (): unknown => server.lines.filter((l) => l.msg === 'request' && l.path === '/readyz').at(-1)?.node;
    do {
      const seen = server.lines.filter((l) => l.path === '/readyz').length;
      assert.equal((await request(server, '127.0.0.14', 'GET', '/readyz')).status, 200);
      await waitFor(() => server.lines.filter((l) => l.path === '/readyz').length > seen, 5000, 'the request logged');
    } while (servedBy() !== up.node && Date.now() < deadline);
    assert.equal(servedBy(), up.node);
  });

  it('SIGHUP replaces both workers: requests served throughout, on fresh and kept-alive connections, and an address is on one worker after', async () => {
    const before = server.lines.length;
    // Kept alive: a leaving worker answers and closes such a connection, and cuts none between two requests.
    const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // Long pollers on kept-alive connections from addresses of both workers, each asking again at
    // once: a leaving worker answers their held polls (408) and waits for their connections to end.
    // A poll is held until its worker drains (the last old one drains some seconds into the roll:
    // CI once saw one held past 5 s) or until the message that ends the test: each may wait past
    // the server's 25 s hold, after which an unanswered poll fails the test.
    let rolled = false;
    const pollers = Array.from({ length: 10 }, async (_, i) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const statuses = new Set<string>();
      while (!rolled) statuses.add(await request(server, `127.0.0.${30 + i}`, 'GET', '/longpoll', undefined, agent, 30_000).then((r) => String(r.status), (err: Error) => err.message));
      agent.destroy();
      return [...statuses].sort().join(',');
    });
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill('SIGHUP');
    const failures: string[] = [];
    while (!server.lines.slice(before).some((l) => l.msg === 'rolling restart done')) {
      for (const [address, agent] of [['127.0.0.15', false], ['127.0.0.17', keepAlive]] as const) {
        const r = await request(server, address, 'GET', '/healthz', undefined, agent).catch((err: Error) => ({ status: 0, body: err.message }));
        if (r.status !== 200) failures.push(`${address}: ${r.status} ${r.body}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    keepAlive.destroy();
    assert.deepEqual(failures, []);
    rolled = true;
    await request(server, '127.0.0.2', 'POST', '/update', JSON.stringify({ text: 'the pollers may stop' }));
    for (const statuses of await Promise.all(pollers)) assert.match(statuses, /^(200,)?408$|^200$/);
    // 127.0.0.16's own lines: those of the pollers' last answers may come in after these requests (each worker's log is its own stream).
    for (let i = 0; i < 4; i++) assert.equal((await request(server, '127.0.0.16', 'GET', '/healthz')).status, 200);
    await waitFor(() => requestsFrom(server, '/healthz', '127.0.0.16').length >= 4, 5000, 'the access log lines');
    assert.equal(nodesServing(server, '/healthz', '127.0.0.16').size, 1);
  });
});

describe('--workers 2 --worker-accept primary, for contrast: an address has one budget and one cap of connections for the machine, but a cap of sockets per worker', { skip: built ? false : 'run `npm run build` first', timeout: 60_000 }, () => {
  const workers = workersFor('primary');
  let server: WorkersProcess;
  before(() => (server = workers.server));

  it('the connections of one address alternate between the workers: of 10 publishes of a guest whose burst is 5, 30 ms apart, 5 pass (the workers share budgets), and 70 silent sockets are kept (caps count per worker)', async () => {
    assertOneBudget(await publishes(server, '127.0.0.11', 10, 30), 5, 1);
    await waitFor(() => requestsFrom(server, '/update', '127.0.0.11').length === 10, 5000, 'the access log of the 10 publishes');
    assert.equal(nodesServing(server, '/update', '127.0.0.11').size, 2, 'the publishes went to both workers');
    const { kept, closed } = await silentSockets(server, '127.0.0.12', 70);
    assert.equal(closed, 0);
    for (const r of kept) r.socket.destroy();
  });

  it('the cap of connections of an address (1) holds for the machine: with a stream open on one worker, the next streams are 429 on both', async () => {
    const open = (): Promise<{ status: number; node: string; req: http.ClientRequest }> =>
      new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: server.port, path: '/subscribe', localAddress: '127.0.0.14', agent: false }, (res) => {
          resolve({ status: res.statusCode ?? 0, node: String(res.headers['x-switchboard-node']), req });
          res.resume();
        });
        req.on('error', reject);
      });
    const url = `http://127.0.0.1:${server.port}`;
    const heard = await heardCounts(url, 0);
    const first = await open();
    assert.equal(first.status, 200);
    await heardCounts(url, heard + 1); // told to the other worker
    const next = [await open(), await open(), await open()];
    try {
      assert.deepEqual(next.map((r) => r.status), [429, 429, 429]);
      assert.ok(next.some((r) => r.node !== first.node), `refused on the other worker too (${first.node}: ${next.map((r) => r.node).join(', ')})`);
    } finally {
      for (const r of [first, ...next]) r.req.destroy();
    }
  });
});

describe('--workers 2 --worker-accept primary --no-shared-limits: each worker its own budget', { skip: built ? false : 'run `npm run build` first', timeout: 60_000 }, () => {
  const workers = workersFor('primary', ['--no-shared-limits']);
  let server: WorkersProcess;
  before(() => (server = workers.server));

  it('10 publishes of a guest whose burst is 5, on fresh connections served by both workers: all pass', async () => {
    assert.deepEqual((await publishes(server, '127.0.0.15', 10)).statuses, Array.from({ length: 10 }, () => 200));
    await waitFor(() => requestsFrom(server, '/update', '127.0.0.15').length === 10, 5000, 'the access log of the 10 publishes');
    assert.equal(nodesServing(server, '/update', '127.0.0.15').size, 2, 'the publishes went to both workers');
  });
});
