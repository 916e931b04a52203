/**
 * A node whose Redis Sentinel URL lists a sentinel that is down, beside one that answers (a real
 * master and sentinel, test/helpers/redis-sentinel.ts; the node a child process, so that what
 * it writes on stderr is seen): it works through the other, and says so in its log, once, not
 * as ioredis' "[ioredis] Unhandled error event" on stderr. That print came from the failover
 * detector's connections to the sentinels, to which ioredis gives no 'error' listener.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeProcess } from './fixtures/node-process.js';
import { postJson, waitFor } from './helpers.js';
import { freePort } from './helpers/ports.js';
import { privateRedisSkipReason } from './helpers/private-redis.js';
import { uniquePrefix } from './helpers/redis-probe.js';
import { MASTER_NAME, RedisSentinel } from './helpers/redis-sentinel.js';

const skip = privateRedisSkipReason('the sentinel-down test (test/redis-sentinel-down.test.ts)');

describe('through Redis Sentinel, one sentinel of the URL down', { skip, timeout: 60_000 }, () => {
  it('the node works through the other sentinel, warns once naming the one down, and prints nothing on stderr', async (t) => {
    const sentinel = await RedisSentinel.start();
    t.after(() => sentinel.stop());
    const down = await freePort();
    // The live sentinel first: the master is found through it, and the one down is met by the
    // failover detector only (a connection to every sentinel of the list, from each client).
    const url = `redis-sentinel://127.0.0.1:${sentinel.sentinelPort},127.0.0.1:${down}/${MASTER_NAME}`;
    const node = await NodeProcess.start({ REDIS_URL: url, REDIS_PREFIX: uniquePrefix(), LOG_LEVEL: 'warn' });
    t.after(() => node.kill());
    assert.equal((await postJson(`${node.url}/api/rooms/lobby/messages`, { text: 'through the live sentinel', name: 'ann' })).status, 201);

    const warnings = (): Record<string, unknown>[] =>
      node.output
        .split('\n')
        .filter((line) => line.startsWith('{"level"'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((l) => l.sentinel === `127.0.0.1:${down}`);
    // Either way the attempts were made: told in the log, or printed by ioredis.
    await waitFor(() => warnings().length > 0 || node.errors.includes('Unhandled error event'), 10_000, 'the connections to the sentinel that is down');
    // Every client's detector (store, broker publisher and subscriber, presence) tried it by now.
    await sleep(1000);
    assert.equal((await node.kill('SIGTERM')).code, 0);
    assert.doesNotMatch(node.errors, /Unhandled error event/);
    const told = warnings();
    assert.equal(told.length, 1, JSON.stringify(told));
    assert.equal(told[0]!.level, 40);
    assert.match(String(told[0]!.msg), /^a Redis Sentinel does not answer/);
    assert.equal((told[0]!.err as { code?: string }).code, 'ECONNREFUSED');
  });
});
