/**
 * The nodes of one Redis deployment share their clients' rate budgets (redis-limit-peers.ts):
 * two nodes on a real Redis, a guest whose publishes a load balancer spreads over both gets one
 * budget, not two; with `sharedLimits: false`, each node gives it its own.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { FLUSH_MS, RedisLimitPeers } from '../src/server/redis-limit-peers.js';
import type { Switchboard } from '../src/server/server.js';
import { captureLogs, request, startServer } from './helpers.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the shared budgets of Redis nodes (test/redis-shared-limits.test.ts)');

/** Two Redis nodes of one deployment, a guest's burst of 5 publishes (1 a second after it: the 10 take well under a second). */
async function twoNodes(prefix: string, sharedLimits: boolean): Promise<{ servers: Switchboard[]; urls: string[] }> {
  const options = { store: 'redis', redisUrl, redisPrefix: prefix, rateLimitBurst: 5, rateLimitPerSecond: 1, sharedLimits } as const;
  const nodes = [await startServer(options), await startServer(options)];
  return { servers: nodes.map((n) => n.server), urls: nodes.map((n) => n.url) };
}

/** `n` publishes of the lecture's `/update`, alternating the nodes, a little apart (as a client's requests are): the statuses. */
async function publishes(urls: string[], n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await request(`${urls[i % urls.length]}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `m${i}` }) });
    statuses.push(r.status);
    // Past the node's gathering of its spends and a Redis hop.
    await sleep(FLUSH_MS * 5);
  }
  return statuses;
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
    const statuses = await publishes(urls, 10);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
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
    assert.deepEqual(await publishes(urls, 10), new Array(10).fill(200));
    assert.doesNotMatch((await request(`${urls[0]}/metrics`)).body, /switchboard_shared_limit_/, 'nothing shared, no such metric');
  });

  it('counts the spends it does not tell: before it runs, and new keys past 10,000 in one message', async () => {
    const peers = new RedisLimitPeers({ url: redisUrl, prefix: uniquePrefix(), sender: 'test', logger: captureLogs().logger });
    try {
      peers.spent('publish', 'ip:10.0.0.1', 1);
      assert.equal(peers.dropped, 1, 'not running yet');
      await peers.init();
      for (let i = 0; i < 10_001; i++) peers.spent('publish', `ip:10.1.${i >> 8}.${i & 255}`, 1);
      peers.spent('publish', 'ip:10.1.0.0', 1);
      assert.equal(peers.dropped, 2, 'the 10,001st new key of the message, not the 10,002nd spend of a key it holds');
      await sleep(FLUSH_MS * 5);
      assert.equal(peers.dropped, 2, 'the rest published');
    } finally {
      await peers.close();
    }
  });
});

/** The value of the series `name` (with its labels) in a Prometheus text, or NaN. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}
