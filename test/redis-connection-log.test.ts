/**
 * A node's log through a Redis outage (a private redis-server of this test, killed and started
 * again; the node a child process whose log is read): each Redis client of the node (store,
 * broker publisher and subscriber, presence) says once that it lost its connection, with why,
 * however many reconnection attempts fail, and once that it is back, with how long it was gone;
 * a graceful shutdown, which closes them on purpose, says neither. Before, an outage showed
 * only as refused requests and /readyz, and its end not at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeProcess } from './fixtures/node-process.js';
import { postJson, waitFor } from './helpers.js';
import { PrivateRedis, privateRedisSkipReason } from './helpers/private-redis.js';
import { uniquePrefix } from './helpers/redis-probe.js';

const skip = privateRedisSkipReason('the Redis connection log test (test/redis-connection-log.test.ts)');

/** The connections of a node that live as long as it does. */
const CLIENTS = ['switchboard-broker-pub', 'switchboard-broker-sub', 'switchboard-limits-pub', 'switchboard-limits-sub', 'switchboard-presence', 'switchboard-store'];

describe('a Redis outage in the log', { skip, timeout: 60_000 }, () => {
  it('each client warns once that its connection is lost (with the error), says once that it is back, and a shutdown says nothing', async (t) => {
    const redis = await PrivateRedis.start();
    t.after(() => redis.stop());
    const node = await NodeProcess.start({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(), LOG_LEVEL: 'info' });
    t.after(() => node.kill());
    assert.equal((await postJson(`${node.url}/api/rooms/lobby/messages`, { text: 'before', name: 'ann' })).status, 201);
    const lines = (msg: RegExp): Record<string, unknown>[] =>
      node.output
        .split('\n')
        .filter((line) => line.startsWith('{"level"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((l) => msg.test(String(l.msg)));
    const clients = (found: Record<string, unknown>[]): string[] => found.map((l) => String(l.redis)).sort();

    await redis.kill();
    await waitFor(() => lines(/^lost the connection to Redis/).length >= CLIENTS.length, 10_000, 'a warning from each client');
    // Past a few more reconnection attempts (one a second at most): still one warning each.
    await sleep(2500);
    const lost = lines(/^lost the connection to Redis/);
    assert.deepEqual(clients(lost), CLIENTS);
    for (const l of lost) {
      assert.equal(l.level, 40);
      assert.match(String(l.err), /ECONNREFUSED|closed/);
    }
    assert.equal(lines(/^the connection to Redis is back/).length, 0);

    await redis.restart();
    await waitFor(() => lines(/^the connection to Redis is back/).length >= CLIENTS.length, 10_000, 'each client back');
    const back = lines(/^the connection to Redis is back/);
    assert.deepEqual(clients(back), CLIENTS);
    for (const l of back) assert.ok(Number(l.downMs) >= 2500, `down for ${String(l.downMs)} ms`);
    assert.equal((await postJson(`${node.url}/api/rooms/lobby/messages`, { text: 'after', name: 'ann' })).status, 201);

    assert.equal((await node.kill('SIGTERM')).code, 0);
    assert.equal(lines(/^lost the connection to Redis/).length, CLIENTS.length, 'the shutdown closes its clients without a warning');
  });
});
