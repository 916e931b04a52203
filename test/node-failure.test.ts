/**
 * Nodes that die: `kill -9` of a node process (test/fixtures/node-server.ts), with Redis (its
 * clients go on from another node) and with SQLite (restarted on the same data dir), and a
 * history that is lost for good (a new epoch: resuming clients are told `reset: 'epoch'`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PollResult } from '../src/protocol/types.js';
import type { Broker } from '../src/server/broker/broker.js';
import { RedisBroker } from '../src/server/broker/redis-broker.js';
import { getJson, hasAll, joinCount, logProblem, PollFollower, readLog, sleep, SseFollower, SseParser, WsFollower, type LogFollower, type SseEventRecord } from './fixtures/log-clients.js';
import { NodeProcess } from './fixtures/node-process.js';
import { publishHttp, WsPublisher, type PublishOutcome } from './fixtures/publishers.js';
import { request, startServer, waitFor } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skipRedis = await redisSkipReason('the Redis part of the node failure suite (test/node-failure.test.ts)');

/** Calls `connect` until it succeeds (a client's reconnection loop), at most `attempts` times. */
async function reconnect(connect: () => Promise<unknown>, attempts = 50): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await connect();
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(100);
    }
  }
}

function cookieOf(answer: { headers: http.IncomingHttpHeaders }): string {
  return (answer.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
}

/** Collects the lecture's /subscribe events from `base`, resuming from `lastId` when given. */
function seedSubscribe(base: string, lastId: string | undefined, events: SseEventRecord[]): http.ClientRequest {
  return http.get(`${base}/subscribe`, { agent: false, headers: lastId ? { 'last-event-id': lastId } : {} }, (res) => {
    const parser = new SseParser((e) => events.push(e));
    res.setEncoding('utf8');
    res.on('data', (c: string) => parser.push(c));
  });
}

describe('kill -9 of a Redis-backed node', { skip: skipRedis, timeout: 45_000 }, () => {
  it("its WebSocket, SSE and polling clients go on from another node and end with every acknowledged message once, in order", async (t) => {
    const prefix = uniquePrefix();
    const env = { STORE: 'redis', REDIS_URL: redisUrl, REDIS_PREFIX: prefix };
    const [a, b] = await Promise.all([NodeProcess.start(env), NodeProcess.start(env)]);
    const followers: LogFollower[] = [];
    t.after(async () => {
      for (const f of followers) f.close();
      await Promise.all([a.kill(), b.kill()]);
      await deleteKeys(prefix);
    });
    const room = 'ha';
    await request(`${b.url}/api/rooms/${room}`, { method: 'PUT' });
    const start = ((await getJson(`${b.url}/api/rooms/${room}/poll`)) as PollResult).cursor;
    let aAlive = true;
    const alive = (): NodeProcess[] => (aAlive ? [a, b] : [b]);

    const ws = new WsFollower('ws-on-a', room, start);
    await ws.connect(a.url);
    const sse = new SseFollower('sse-on-a', room, start);
    await sse.connect(a.url);
    // They reconnect where a client behind a load balancer would land: the node still alive.
    let reconnects = 0;
    ws.onDrop = () => void reconnect(() => ws.connect(b.url)).then(() => reconnects++);
    sse.onDrop = () => void reconnect(() => sse.connect(b.url)).then(() => reconnects++);
    const longPoller = new PollFollower('longpoll-both', room, start, 'longpoll', (n) => alive()[n % alive().length]!.url, { timeoutMs: 500 }).start();
    const poller = new PollFollower('poll-both', room, start, 'poll', (n) => alive()[n % alive().length]!.url, { intervalMs: 20 }).start();
    followers.push(ws, sse, longPoller, poller);

    // A steady stream over HTTP, alternating nodes; a publish whose answer is lost is retried
    // on a live node with the same clientId (stored at most once, acked with its seq).
    const acked = new Map<string, number>();
    const publishOne = async (i: number): Promise<void> => {
      const clientId = `m-${i}`;
      let outcome: PublishOutcome = await publishHttp(alive()[i % alive().length]!.url, room, `message ${i}`, clientId);
      for (let attempt = 0; !outcome.ok && attempt < 50; attempt++) {
        await sleep(50);
        outcome = await publishHttp(b.url, room, `message ${i}`, clientId);
      }
      assert.ok(outcome.ok, `${clientId} could not be published`);
      acked.set(clientId, outcome.ack.seq);
    };
    const total = 160;
    const publishing = (async () => {
      for (let i = 0; i < total; i++) {
        await publishOne(i);
        await sleep(10);
      }
    })();
    await waitFor(() => acked.size >= 60, 10_000, 'the first messages');
    await waitFor(() => ws.entries.length > 0 && sse.entries.length > 0, 5000, 'the clients on A to receive');
    const killed = await a.kill('SIGKILL');
    aAlive = false;
    assert.equal(killed.signal, 'SIGKILL');
    await publishing;

    await waitFor(() => followers.every((f) => hasAll(f, acked)), 15_000, 'every client to get every acknowledged message').catch((err: unknown) => {
      for (const f of followers) if (!hasAll(f, acked)) console.error(logProblem(f, acked));
      throw err;
    });
    await longPoller.stop();
    await poller.stop();
    assert.equal(reconnects, 2, 'the WebSocket and SSE clients reconnected to node B');
    for (const f of followers) assert.equal(logProblem(f, acked), undefined);
    // And the log itself holds each message once, whatever was retried.
    const log = await readLog(b.url, room, start);
    const ids = log.filter((e) => e.type === 'message').map((e) => e.clientId);
    assert.equal(new Set(ids).size, ids.length, 'no message stored twice');
    assert.equal(ids.length, total);
  });
});

describe('a publish stored by a node that died before fanning it out', { skip: skipRedis, timeout: 20_000 }, () => {
  it('reaches every subscriber when its client retries it, with the same clientId, on another node', async (t) => {
    const prefix = uniquePrefix();
    // Node A's broker loses entries on demand: what a node that died between its store write and
    // its PUBLISH leaves behind (stored, never fanned out, the client never acked).
    const inner = new RedisBroker({ url: redisUrl, prefix });
    let dropEntries = false;
    const lossy: Broker = {
      kind: 'lossy',
      init: () => inner.init(),
      publish: (m) => (dropEntries && m.kind === 'entry' ? Promise.resolve() : inner.publish(m)),
      onMessage: (h) => inner.onMessage(h),
      onReconnect: (h) => inner.onReconnect(h),
      watch: (room) => inner.watch(room),
      unwatch: (room) => inner.unwatch(room),
      ping: () => inner.ping(),
      close: () => inner.close(),
    };
    const a = await startServer({ store: 'redis', redisUrl, redisPrefix: prefix, broker: lossy, presenceEntries: true });
    const b = await startServer({ store: 'redis', redisUrl, redisPrefix: prefix, presenceEntries: true });
    const room = 'orphan';
    await request(`${a.url}/api/rooms/${room}`, { method: 'PUT' });
    const start = ((await getJson(`${a.url}/api/rooms/${room}/poll`)) as PollResult).cursor;
    const onA = new WsFollower('ws-on-a', room, start);
    const onB = new WsFollower('ws-on-b', room, start);
    t.after(async () => {
      onA.close();
      onB.close();
      await Promise.all([a.server.close(), b.server.close()]);
      await deleteKeys(prefix);
    });
    await onA.connect(a.url);
    await onB.connect(b.url);
    await waitFor(() => joinCount(onA) === 2 && joinCount(onB) === 2, 5000, 'both joins');

    dropEntries = true;
    const first = await publishHttp(a.url, room, 'orphan', 'orphan-1');
    dropEntries = false;
    assert.ok(first.ok);
    await sleep(300);
    assert.equal(messageCount(onA) + messageCount(onB), 0, 'the stored entry was not fanned out');

    const retry = await publishHttp(b.url, room, 'orphan', 'orphan-1');
    assert.ok(retry.ok && retry.ack.duplicate && retry.ack.seq === first.ack.seq, 'the retry is a duplicate of the stored entry');
    const acked = new Map([['orphan-1', first.ack.seq]]);
    await waitFor(() => hasAll(onA, acked) && hasAll(onB, acked), 5000, 'the retried entry to reach both nodes');
    await sleep(100);
    for (const f of [onA, onB]) assert.equal(logProblem(f, acked), undefined);
  });
});

describe('kill -9 of a single SQLite node, and a lost history', { timeout: 45_000 }, () => {
  let dataDir: string;
  /** What the first test leaves for the second: a cursor of the old history, and the old epoch. */
  let oldCursor = '';
  let oldCookie = '';

  it('after a restart on the same data dir every acknowledged message is there, seqs go on, and every resume route works', async (t) => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchboard-crash-'));
    const env = { STORE: 'sqlite', DATA_DIR: dataDir };
    let node = await NodeProcess.start(env);
    t.after(async () => void (await node.kill()));
    const room = 'lobby';
    const start = ((await getJson(`${node.url}/api/rooms/${room}/poll`)) as PollResult).cursor;
    const epoch = start.split(':')[0]!;
    const firstPoll = await request(`${node.url}/poll`);
    assert.equal(firstPoll.status, 204);
    const cookie = cookieOf(firstPoll);

    // Publishing flat out: a WebSocket publisher with 20 in flight and an HTTP one.
    const acked = new Map<string, number>();
    const publisher = await WsPublisher.open(node.url);
    let stop = false;
    let n = 0;
    const wsLoop = async (): Promise<void> => {
      while (!stop) {
        const clientId = `w-${n++}`;
        const o = await publisher.publish(room, `text ${clientId}`, clientId);
        if (o.ok) acked.set(clientId, o.ack.seq);
        else if (o.code === 'NETWORK') return;
      }
    };
    const httpLoop = async (): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const o = await publishHttp(node.url, room, `text h-${i}`, `h-${i}`);
        if (o.ok) acked.set(`h-${i}`, o.ack.seq);
        else if (o.code === 'NETWORK') return;
      }
    };
    const loops = [...Array.from({ length: 20 }, wsLoop), httpLoop()];
    await waitFor(() => acked.size >= 300, 15_000, '300 acknowledged publishes');
    const killed = await node.kill('SIGKILL');
    stop = true;
    await Promise.all(loops);
    assert.equal(killed.signal, 'SIGKILL');
    const maxAcked = Math.max(...acked.values());

    node = await NodeProcess.start(env);
    const log = await readLog(node.url, room, `${epoch}:0`);
    const seqs = log.map((e) => e.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'seqs 1..n with no gap');
    const stored = new Map(log.map((e) => [e.type === 'message' ? e.clientId! : '', e.seq]));
    assert.equal(stored.size, log.length, 'no clientId stored twice');
    for (const [clientId, seq] of acked) assert.equal(stored.get(clientId), seq, `${clientId} (acked as seq ${seq}) survived the crash`);
    const lastSeq = log.length;
    assert.ok(lastSeq >= maxAcked);

    // Seqs go on after the restart, never reused; the epoch is the same history.
    const after = await publishHttp(node.url, room, 'after the crash', 'after-crash');
    assert.ok(after.ok);
    assert.equal(after.ack.seq, lastSeq + 1);
    assert.equal(after.ack.epoch, epoch);
    // Keys are the sender's: the HTTP publisher (one sender per address) retries one of its own.
    const own = [...acked.keys()].find((k) => k.startsWith('h-'))!;
    const retried = await publishHttp(node.url, room, `text ${own}`, own);
    assert.ok(retried.ok && retried.ack.duplicate, 'an acked clientId is still known after the crash');
    assert.equal(retried.ok && retried.ack.seq, acked.get(own));

    // Resume from a cursor taken before the crash, on every route.
    const from = Math.max(1, lastSeq - 5);
    const cursor = `${epoch}:${from}`;
    const expected = [...log.slice(from).map((e) => e.seq), after.ack.seq];
    const ws = new WsFollower('ws', room, cursor);
    const sse = new SseFollower('sse', room, cursor);
    t.after(() => [ws, sse].forEach((f) => f.close()));
    assert.equal((await ws.connect(node.url)).reset, undefined);
    assert.equal((await sse.connect(node.url)).reset, undefined);
    await waitFor(() => messageCount(ws) >= expected.length && messageCount(sse) >= expected.length, 5000, 'native resume');
    const polled = (await getJson(`${node.url}/api/rooms/${room}/poll?after=${cursor}`)) as PollResult;
    for (const got of [ws.entries, sse.entries, polled.entries]) {
      assert.deepEqual(got.filter((e) => e.type === 'message').map((e) => e.seq), expected);
    }

    const seedEvents: SseEventRecord[] = [];
    const seedSse = seedSubscribe(node.url, cursor, seedEvents);
    t.after(() => seedSse.destroy());
    await waitFor(() => seedEvents.length >= expected.length, 5000, '/subscribe to resume from Last-Event-ID');
    assert.deepEqual(seedEvents.map((e) => Number(e.id!.split(':')[1])), expected);
    // The cookie of a lecture poller from before the crash: the next poll gives seq 1, then 2.
    const p1 = await request(`${node.url}/poll`, { headers: { cookie } });
    const p2 = await request(`${node.url}/poll`, { headers: { cookie: cookieOf(p1) } });
    assert.deepEqual([p1.status, p2.status], [200, 200]);
    assert.deepEqual([p1, p2].map((p) => (p.json() as { text: string }).text), log.slice(0, 2).map((e) => (e.type === 'message' ? e.text : undefined)));

    oldCursor = `${epoch}:3`;
    oldCookie = cookieOf(p2);
  });

  it('a wiped SQLite file gives the room a new epoch: a client resuming with an old cursor is told reset "epoch"', async (t) => {
    assert.ok(oldCursor, 'runs after the crash test');
    const env = { STORE: 'sqlite', DATA_DIR: dataDir };
    for (const f of await readdir(dataDir)) await rm(join(dataDir, f));
    const node = await NodeProcess.start(env);
    t.after(async () => {
      await node.kill();
      await rm(dataDir, { recursive: true, force: true });
    });
    const room = 'lobby';
    // The new history has entries too, so the old seq points at something: only the epoch tells.
    for (let i = 0; i < 5; i++) assert.ok((await publishHttp(node.url, room, `new ${i}`, `new-${i}`)).ok);
    await resumeIsReset(node.url, room, oldCursor, t);

    // Lecture clients have no reset field: a stale cookie restarts at the end of the new history.
    const stale = await request(`${node.url}/poll`, { headers: { cookie: oldCookie } });
    assert.equal(stale.status, 204);
    const info = (await getJson(`${node.url}/api/rooms/${room}`)) as { epoch: string; lastSeq: number };
    assert.equal(decodeURIComponent(cookieOf(stale)), `sb_seed=${info.epoch}:${info.lastSeq}`);
  });

  it('a fresh Redis prefix is a new history too: an old cursor gets reset "epoch"', { skip: skipRedis }, async (t) => {
    const first = uniquePrefix();
    const second = uniquePrefix();
    t.after(async () => {
      await deleteKeys(first);
      await deleteKeys(second);
    });
    const old = await startServer({ store: 'redis', redisUrl, redisPrefix: first });
    const acks: PublishOutcome[] = [];
    for (let i = 0; i < 3; i++) acks.push(await publishHttp(old.url, 'lobby', `old ${i}`, `old-${i}`));
    await old.server.close();
    const last = acks[2]!;
    assert.ok(last.ok);
    const cursor = last.ack.cursor;
    const fresh = await startServer({ store: 'redis', redisUrl, redisPrefix: second });
    t.after(() => fresh.server.close());
    for (let i = 0; i < 5; i++) await publishHttp(fresh.url, 'lobby', `new ${i}`, `new-${i}`);
    await resumeIsReset(fresh.url, 'lobby', cursor, t);
  });
});

function messageCount(f: LogFollower): number {
  return f.entries.filter((e) => e.type === 'message').length;
}

/** Resumes with `oldCursor` over WebSocket, SSE, short and long polling: each must say reset 'epoch' and start the new history from its beginning. */
async function resumeIsReset(base: string, room: string, oldCursor: string, t: { after(fn: () => unknown): void }): Promise<void> {
  const ws = new WsFollower('ws-old', room, oldCursor);
  const sse = new SseFollower('sse-old', room, oldCursor);
  t.after(() => [ws, sse].forEach((f) => f.close()));
  const subscribed = await ws.connect(base);
  const ready = await sse.connect(base);
  const polled = (await getJson(`${base}/api/rooms/${room}/poll?after=${oldCursor}`)) as PollResult;
  const longPolled = (await getJson(`${base}/api/rooms/${room}/longpoll?after=${oldCursor}&timeout=5000`)) as PollResult;
  const oldEpoch = oldCursor.split(':')[0];
  for (const [what, answer] of [['WebSocket subscribed', subscribed], ['SSE ready', ready], ['poll', polled], ['long poll', longPolled]] as const) {
    assert.equal(answer.reset, 'epoch', `${what} says reset: 'epoch'`);
    assert.notEqual(answer.epoch, oldEpoch, `${what} gives the new epoch`);
  }
  // Delivery starts at the oldest entry of the new history, never in the middle of it.
  assert.equal(polled.entries[0]?.seq, 1);
  assert.equal(longPolled.entries[0]?.seq, 1);
  await waitFor(() => ws.entries.length >= 5 && sse.entries.length >= 5, 5000, 'the new history over WebSocket and SSE');
  assert.equal(ws.entries[0]!.seq, 1);
  assert.equal(sse.entries[0]!.seq, 1);
}
