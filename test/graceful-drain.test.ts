/**
 * SIGTERM to a node process with clients attached (test/fixtures/node-server.ts, Redis-backed,
 * a second node beside it): readiness fails first, then every client is told to go (WebSocket
 * close 1001, SSE `shutdown`, held long polls answered), the process exits 0 within its
 * deadline, and the clients resume on the other node without loss or duplicate.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import type { PollResult } from '../src/protocol/types.js';
import { SseFollower, WsFollower, getJson, hasAll, logProblem, sleep } from './fixtures/log-clients.js';
import { NodeProcess } from './fixtures/node-process.js';
import { publishHttp } from './fixtures/publishers.js';
import { request, startServer, waitFor, type HttpAnswer } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the graceful drain suite (test/graceful-drain.test.ts)');

/** One request on a fresh connection (a load balancer's health check); rejects when refused. */
function fresh(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown }));
    });
    req.on('error', reject);
  });
}

describe('SIGTERM drains a node', { skip, timeout: 40_000 }, () => {
  it('readiness fails first, WebSockets close 1001, SSE gets `shutdown`, held long polls are answered, exit 0 in time; clients resume on another node', async (t) => {
    const prefix = uniquePrefix();
    const env = { STORE: 'redis', REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
    const shutdownTimeoutMs = 4000;
    const drainDelayMs = 800;
    const [a, b] = await Promise.all([
      NodeProcess.start({ ...env, SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), DRAIN_DELAY_MS: String(drainDelayMs) }),
      NodeProcess.start(env),
    ]);
    const room = 'drain';
    for (const name of [room, 'side']) await request(`${b.url}/api/rooms/${name}`, { method: 'PUT' });
    const start = ((await getJson(`${b.url}/api/rooms/${room}/poll`)) as PollResult).cursor;
    // Clients of node A: a WebSocket and an SSE subscriber, a held long poll, a held lecture /longpoll.
    const wsFollower = new WsFollower('ws-on-a', room, start);
    const sseFollower = new SseFollower('sse-on-a', room, start);
    t.after(async () => {
      for (const f of [wsFollower, sseFollower]) f.close();
      await Promise.all([a.kill(), b.kill()]);
      await deleteKeys(prefix);
    });
    assert.equal((await fresh(`${a.url}/readyz`)).status, 200);
    const acked = new Map<string, number>();
    const publish = async (base: string, clientId: string): Promise<void> => {
      const o = await publishHttp(base, room, clientId, clientId);
      assert.ok(o.ok, `${clientId}: ${o.ok ? '' : o.code}`);
      acked.set(clientId, o.ack.seq);
    };

    await wsFollower.connect(a.url);
    await sseFollower.connect(a.url);
    let resumed = 0;
    wsFollower.onDrop = () => void wsFollower.connect(b.url).then(() => resumed++);
    sseFollower.onDrop = () => void sseFollower.connect(b.url).then(() => resumed++);
    for (let i = 0; i < 5; i++) await publish(i % 2 ? a.url : b.url, `before-${i}`);
    await waitFor(() => hasAll(wsFollower, acked) && hasAll(sseFollower, acked), 5000, 'the first messages');
    const cursor = ((await getJson(`${a.url}/api/rooms/${room}/poll?after=${start}`)) as PollResult).cursor;
    const heldPoll = fresh(`${a.url}/api/rooms/${room}/longpoll?after=${cursor}&timeout=60000`);
    const seedCookie = (await fresh(`${a.url}/poll`)).headers['set-cookie']![0]!.split(';')[0]!;
    const heldSeedPoll = fresh(`${a.url}/longpoll`, { cookie: seedCookie });
    await sleep(200);

    const signalled = Date.now();
    a.child.kill('SIGTERM');
    // A load balancer's health check sees 503 while the node still serves its clients.
    let draining: { status: number; body: { draining?: boolean } } | undefined;
    while (!draining && Date.now() - signalled < drainDelayMs) {
      const r = await fresh(`${a.url}/readyz`);
      if (r.status === 503) draining = { status: r.status, body: r.json() as { draining?: boolean } };
      else await sleep(20);
    }
    assert.ok(draining, '/readyz turned 503 during the drain delay');
    assert.equal(draining.body.draining, true);
    const refused = await fresh(`${a.url}/api/rooms/${room}/events`);
    assert.equal(refused.status, 503, 'a new long-lived connection is refused while draining');
    assert.equal((refused.json() as { code: string }).code, 'SHUTTING_DOWN');
    // Short requests still work (in another room: the held polls must be answered by the shutdown).
    const during = await publishHttp(a.url, 'side', 'during the drain', 'during-drain');
    assert.ok(during.ok, 'a publish is served during the drain delay');
    assert.deepEqual(wsFollower.closeCodes, [], 'open WebSockets stay open during the drain delay');

    const exit = await a.exited;
    const took = Date.now() - signalled;
    assert.equal(exit.code, 0, `exit code (stderr: ${a.errors})`);
    assert.ok(took < shutdownTimeoutMs + 1000, `exited ${took} ms after SIGTERM`);
    assert.equal(wsFollower.closeCodes[0], 1001);
    assert.ok(sseFollower.events.some((e) => e.event === 'shutdown'), 'SSE got the shutdown event');
    const polled = await heldPoll;
    assert.equal(polled.status, 200);
    const heldAnswer = polled.json() as PollResult;
    assert.deepEqual(heldAnswer.entries, [], 'the held long poll was answered by the shutdown, with no entries');
    assert.equal(heldAnswer.cursor, cursor);
    assert.equal((await heldSeedPoll).status, 408, "the lecture's held /longpoll is answered as at its timeout");
    await assert.rejects(fresh(`${a.url}/healthz`), 'the process is gone');

    // Its clients go on from node B, from where they were.
    await waitFor(() => resumed === 2, 5000, 'the WebSocket and SSE clients to resume on node B');
    for (let i = 0; i < 5; i++) await publish(b.url, `after-${i}`);
    await waitFor(() => hasAll(wsFollower, acked) && hasAll(sseFollower, acked), 5000, 'every message on node B');
    for (const f of [wsFollower, sseFollower]) assert.equal(logProblem(f, acked), undefined);
    const next = (await getJson(`${b.url}/api/rooms/${room}/longpoll?after=${heldAnswer.cursor}`)) as PollResult;
    assert.deepEqual(
      next.entries.filter((e) => e.type === 'message').map((e) => e.clientId),
      Array.from({ length: 5 }, (_, i) => `after-${i}`),
      'the long poller resumes on node B from the cursor it was answered with',
    );
  });
});

describe('a draining node closes the keep-alive connections it answers on', { timeout: 20_000 }, () => {
  it('a held long poll (native and lecture) and a request during the drain delay come with Connection: close', async () => {
    // A delay long enough for a busy machine (CI) to make its requests within it, and to tell an
    // answer at once from one at the shutdown (the held polls', when the delay ends).
    const drainDelayMs = 3000;
    const s = await startServer({ drainDelayMs });
    const agent = new http.Agent({ keepAlive: true });
    const get = (path: string, headers: Record<string, string> = {}): Promise<{ status: number; connection: string | undefined }> =>
      new Promise((resolve, reject) => {
        http
          .get(`${s.url}${path}`, { agent, headers }, (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
          })
          .on('error', reject);
      });
    try {
      await request(`${s.url}/api/rooms/kept`, { method: 'PUT' });
      const before = await get('/healthz');
      assert.equal(before.connection, 'keep-alive', 'before the drain, a connection is kept');
      const cursor = ((await getJson(`${s.url}/api/rooms/kept/poll`)) as PollResult).cursor;
      const held = get(`/api/rooms/kept/longpoll?after=${cursor}&timeout=60000`);
      const seedCookie = (await request(`${s.url}/poll`)).headers['set-cookie']![0]!.split(';')[0]!;
      const heldSeed = get('/longpoll', { cookie: seedCookie });
      await sleep(100);
      const closing = s.server.close();
      await sleep(100);
      const during = await get('/healthz');
      assert.deepEqual([during.status, during.connection], [200, 'close'], 'served during the delay, on a connection that closes after');
      // A long poll that comes now is held no more: answered at once, not refused (503 SHUTTING_DOWN, an error to its client).
      const asked = Date.now();
      assert.deepEqual(await get(`/api/rooms/kept/longpoll?after=${cursor}&timeout=60000`), { status: 200, connection: 'close' }, 'a native long poll during the drain');
      assert.deepEqual(await get('/longpoll', { cookie: seedCookie }), { status: 408, connection: 'close' }, "a lecture /longpoll during the drain: its answer for nothing new");
      assert.ok(Date.now() - asked < drainDelayMs / 2, `both answered at once (${Date.now() - asked} ms), not held until the shutdown`);
      assert.deepEqual(await held, { status: 200, connection: 'close' }, 'the held long poll: its next poll goes elsewhere');
      assert.deepEqual(await heldSeed, { status: 408, connection: 'close' }, "the lecture's held /longpoll too");
      await closing;
    } finally {
      agent.destroy();
    }
  });
});
