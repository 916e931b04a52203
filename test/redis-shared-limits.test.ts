/**
 * The nodes of one Redis deployment share their clients' rate budgets (redis-limit-peers.ts):
 * two nodes on a real Redis, a guest whose publishes a load balancer spreads over both gets one
 * budget, not two; with `sharedLimits: false`, each node gives it its own.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { Held } from '../src/server/session/limits.js';
import { FLUSH_MS, RedisLimitPeers } from '../src/server/redis-limit-peers.js';
import type { Switchboard } from '../src/server/server.js';
import { captureLogs, request, startServer, waitFor } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';
import { assertOneBudget, heardCounts, pacedPublishes, type PacedPublishes } from './helpers/shared-limits.js';

const skip = await redisSkipReason('the shared budgets of Redis nodes (test/redis-shared-limits.test.ts)');

/** Two Redis nodes of one deployment, a guest's burst of 5 publishes (1 a second after it: the 10 take well under a second). */
async function twoNodes(prefix: string, sharedLimits: boolean): Promise<{ servers: Switchboard[]; urls: string[] }> {
  const options = { store: 'redis', redisUrl, redisPrefix: prefix, rateLimitBurst: 5, rateLimitPerSecond: 1, sharedLimits } as const;
  const nodes = [await startServer(options), await startServer(options)];
  return { servers: nodes.map((n) => n.server), urls: nodes.map((n) => n.url) };
}

/** `n` publishes of the lecture's `/update`, alternating the nodes, a little apart (as a client's requests are). */
function publishes(urls: string[], n: number): Promise<PacedPublishes> {
  // Past the node's gathering of its spends and a Redis hop.
  return pacedPublishes(n, FLUSH_MS * 5, async (i) => {
    const r = await request(`${urls[i % urls.length]}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `m${i}` }) });
    return r.status;
  });
}

describe('rate budgets shared over Redis', { skip, timeout: 30_000 }, () => {
  const prefixes: string[] = [];
  const servers: Switchboard[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    for (const p of prefixes) await deleteKeys(p);
  });

  it("a guest's publishes spread over two nodes: 5 of 10 pass (its burst), the rest are 429 on both", async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const { servers: two, urls } = await twoNodes(prefix, true);
    servers.push(...two);
    assertOneBudget(await publishes(urls, 10), 5, 1);
    // The traffic it cost, on /metrics: each node told its spends and heard the other's, none dropped.
    const scraped = await Promise.all(urls.map(async (url) => (await request(`${url}/metrics`)).body));
    for (const [i, text] of scraped.entries()) {
      assert.ok(sample(text, 'switchboard_shared_limit_spends_total{direction="told"}') >= 2, `node ${i} told its spends`);
      assert.ok(sample(text, 'switchboard_shared_limit_spends_total{direction="heard"}') >= 2, `node ${i} heard the other's`);
      assert.equal(sample(text, 'switchboard_shared_limit_spends_dropped_total'), 0);
    }
  });

  it('with sharedLimits false, each node gives it a burst of its own: all 10 pass', async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const { servers: two, urls } = await twoNodes(prefix, false);
    servers.push(...two);
    assert.deepEqual((await publishes(urls, 10)).statuses, new Array(10).fill(200));
    assert.doesNotMatch((await request(`${urls[0]}/metrics`)).body, /switchboard_shared_limit_/, 'nothing shared, no such metric');
  });

  it('counts the spends it does not tell: before it runs, new keys past 10,000 in one message, and after close; those pending at close are told first', async () => {
    const prefix = uniquePrefix();
    const peers = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'test', logger: captureLogs().logger });
    const other = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'other', logger: captureLogs().logger });
    const heard: string[] = [];
    other.onSpent((spends) => heard.push(...spends.map(([, key]) => key)));
    await other.init();
    try {
      peers.spent('publish', 'ip:10.0.0.1', 1);
      assert.equal(peers.dropped, 1, 'not running yet');
      await peers.init();
      for (let i = 0; i < 10_001; i++) peers.spent('publish', `ip:10.1.${i >> 8}.${i & 255}`, 1);
      peers.spent('publish', 'ip:10.1.0.0', 1);
      assert.equal(peers.dropped, 2, 'the 10,001st new key of the message, not the 10,002nd spend of a key it holds');
      await sleep(FLUSH_MS * 5);
      assert.equal(peers.dropped, 2, 'the rest published');
      // Spent, then closed within the 10 ms it would have waited (CI, busy, once published it
      // meanwhile: dropping it at close was a race): told before the goodbye, not dropped.
      peers.spent('publish', 'ip:10.0.0.2', 1);
      await peers.close();
      assert.equal(peers.dropped, 2, 'the spend pending at close was told');
      await waitFor(() => heard.includes('ip:10.0.0.2'), 2000, 'the other node heard the last spend');
      peers.spent('publish', 'ip:10.0.0.3', 1);
      assert.equal(peers.dropped, 3, 'a spend after close is dropped');
    } finally {
      await peers.close();
      await other.close();
    }
  });
});

/** A lecture SSE stream of a guest on `url`: its status, and a way to end it. */
function openStream(url: string): Promise<{ status: number; end: () => void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/subscribe`, { agent: false }, (res) => {
      resolve({ status: res.statusCode ?? 0, end: () => req.destroy() });
      res.resume();
    });
    req.on('error', reject);
  });
}

describe('caps of connections shared over Redis', { skip, timeout: 30_000 }, () => {
  const prefixes: string[] = [];
  after(async () => {
    for (const p of prefixes) await deleteKeys(p);
  });

  it("an address's cap (2) holds over two nodes; a stream that ends, or a node that closes, frees its place on the other", async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const options = { store: 'redis', redisUrl, redisPrefix: prefix, maxConnectionsPerAddress: 2 } as const;
    const [a, b] = [await startServer(options), await startServer(options)];
    const streams: { end: () => void }[] = [];
    try {
      // Each count waited for until the other node heard it (its /metrics), not for a fixed while: a busy machine takes longer.
      const first = await openStream(a.url);
      streams.push(first);
      await heardCounts(b.url, 1);
      const second = await openStream(b.url);
      streams.push(second);
      await heardCounts(a.url, 1);
      assert.deepEqual([first.status, second.status], [200, 200]);
      const third = [await openStream(a.url), await openStream(b.url)];
      streams.push(...third);
      assert.deepEqual(third.map((r) => r.status), [429, 429], 'its third, on either node (the build before: 200 on each, a cap per node)');
      const heardBefore = await heardCounts(b.url, 1);
      first.end();
      await heardCounts(b.url, heardBefore + 1);
      const again = await openStream(b.url);
      streams.push(again);
      assert.equal(again.status, 200, "the place the ended stream held, taken on the other node");
      // b holds 2 now: a third node that starts learns them at once (its hello), not at the next refresh.
      const c = await startServer(options);
      try {
        await heardCounts(c.url, 1);
        const onC = await openStream(c.url);
        streams.push(onC);
        assert.equal(onC.status, 429, 'a node that just started was told what the others hold (its hello)');
      } finally {
        await c.server.close();
      }
      // b closes with its two streams open: what it held is forgotten on a at once, not after the expiry.
      await b.server.close();
      const onA = [await openStream(a.url), await openStream(a.url)];
      streams.push(...onA);
      assert.deepEqual(onA.map((r) => r.status), [200, 200]);
    } finally {
      for (const s of streams) s.end();
      await Promise.all([a.server.close(), b.server.close()]);
    }
  });

  it("a node that says nothing more is forgotten after the expiry; a reset replaces what a node held; every node tells its counts at each refresh", async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const peers = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'me', logger: captureLogs().logger, refreshMs: 50, expireMs: 200 });
    const heard: [string, Held[]][] = [];
    const gone: string[] = [];
    peers.onHolds((peer, counts) => heard.push([peer, [...counts]]), (peer) => gone.push(peer));
    const raw = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const listener = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    const seen: { sender: string; counts?: Held[]; reset?: boolean }[] = [];
    try {
      await listener.ssubscribe(`${prefix}limits`);
      listener.on('smessage', (_channel: string, payload: string) => {
        if (payload.startsWith('{')) seen.push(JSON.parse(payload) as (typeof seen)[number]);
      });
      await peers.init();
      // A node that dies after telling its count (a kill -9): heard, then forgotten once silent for 200 ms.
      await raw.spublish(`${prefix}limits`, JSON.stringify({ sender: 'ghost', counts: [['address', '10.0.0.9', 2]] }));
      await waitFor(() => heard.length > 0, 2000, 'the ghost heard');
      assert.deepEqual(heard[0], ['ghost', [['address', '10.0.0.9', 2]]]);
      assert.ok(!gone.includes('ghost'), 'not forgotten yet');
      await waitFor(() => gone.includes('ghost'), 2000, 'the ghost forgotten');
      // A reset: forgotten, then its new counts.
      heard.length = gone.length = 0;
      await raw.spublish(`${prefix}limits`, JSON.stringify({ sender: 'other', counts: [['member', 'ann', 3]], reset: true }));
      await waitFor(() => heard.length > 0, 2000, 'the reset heard');
      assert.deepEqual([gone[0], heard[0]], ['other', ['other', [['member', 'ann', 3]]]]);
      // This node's counts: told once changed, and all again at each refresh, with a reset.
      peers.holds('member', 'bob', 2);
      await waitFor(() => seen.some((m) => m.sender === 'me' && m.reset === true && m.counts?.length === 1), 2000, 'a refresh of my counts');
      assert.ok(seen.some((m) => m.sender === 'me' && m.reset !== true && JSON.stringify(m.counts) === '[["member","bob",2]]'), 'the change told by itself first');
      // Garbage on the channel is ignored.
      await raw.spublish(`${prefix}limits`, 'not json');
      await raw.spublish(`${prefix}limits`, JSON.stringify({ sender: 'bad', counts: [['socket', 'x', 1], ['member', 5, 1]] }));
      await sleep(50);
      assert.ok(!heard.some(([peer]) => peer === 'bad'), 'nothing valid: nothing heard');
      // A node that closes says so: forgotten at once, long before its expiry (15 s by default).
      const watcher = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'watcher', logger: captureLogs().logger });
      const leaver = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'leaver', logger: captureLogs().logger });
      const watched: string[] = [];
      watcher.onHolds((peer) => watched.push(`held ${peer}`), (peer) => watched.push(`gone ${peer}`));
      try {
        await watcher.init();
        await leaver.init();
        leaver.holds('member', 'zed', 2);
        await waitFor(() => watched.includes('held leaver'), 2000, 'the leaver heard');
        await leaver.close();
        await waitFor(() => watched.includes('gone leaver'), 3000, 'the leaver forgotten (its expiry is 15 s)');
        // The watcher's subscriber drops and reconnects: it says hello, and the others tell their counts at once (not at their next refresh, 5 s away).
        const answerer = new RedisLimitPeers({ url: redisUrl, prefix, sender: 'answerer', logger: captureLogs().logger });
        try {
          await answerer.init();
          await sleep(100); // its own hello answered by the others; its next refresh 5 s away
          const before = seen.length;
          (watcher as unknown as { subscriber: Redis }).subscriber.disconnect(true);
          await waitFor(() => seen.slice(before).some((m) => m.sender === 'watcher' && (m as { hello?: boolean }).hello === true), 3000, "the watcher's hello");
          await waitFor(() => seen.slice(before).some((m) => m.sender === 'answerer' && m.reset === true), 3000, "the answerer's refresh, long before its own time");
        } finally {
          await answerer.close();
        }
      } finally {
        await Promise.all([watcher.close(), leaver.close()]);
      }
    } finally {
      await peers.close();
      raw.disconnect();
      listener.disconnect();
    }
  });
});

/** The value of the series `name` (with its labels) in a Prometheus text, or NaN. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}
