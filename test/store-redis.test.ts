import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SwitchboardError } from '../src/protocol/errors.js';
import { RedisStore } from '../src/server/store/redis-store.js';
import { DELETE_ROOM_LUA, UNREGISTER_ROOM_LUA } from '../src/server/store/redis-scripts.js';
import { messageStoreContract } from './contract/message-store.contract.js';
import { freePort } from './helpers/ports.js';
import { PrivateRedis, privateRedisSkipReason } from './helpers/private-redis.js';
import { deleteKeys, redisSkipReason, redisUrl, uniquePrefix } from './helpers/redis-probe.js';

const skip = await redisSkipReason('the Redis store suites (test/store-redis.test.ts)');
const skipPrivate = privateRedisSkipReason('the Redis store outage tests (test/store-redis.test.ts)');

async function open(url: string, prefix: string, extra: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}): Promise<RedisStore> {
  // A small trim batch makes every contract trim span several batches.
  const store = new RedisStore({ url, prefix, trimBatchSize: 7, connectTimeoutMs: 2000, ...extra });
  await store.init();
  return store;
}

async function assertUnavailable(promise: Promise<unknown>, withinMs: number): Promise<void> {
  const started = Date.now();
  await assert.rejects(promise, (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
  const took = Date.now() - started;
  assert.ok(took < withinMs, `took ${took} ms, more than ${withinMs}`);
}

const draft = (room: string, text: string, clientId?: string) =>
  ({ type: 'message', room, from: { id: 'c', name: 'c' }, text, ...(clientId ? { clientId } : {}) }) as const;

describe('redis', { skip }, () => {
  messageStoreContract('redis', async () => {
    const prefix = uniquePrefix();
    const stores: RedisStore[] = [await open(redisUrl, prefix)];
    return {
      store: stores[0]!,
      reopen: async () => {
        const store = await open(redisUrl, prefix);
        stores.push(store);
        return store;
      },
      cleanup: async () => {
        for (const s of stores) await s.close();
        await deleteKeys(prefix);
      },
    };
  });

  describe('RedisStore', () => {
    it('puts every key under its prefix', async () => {
      const prefix = uniquePrefix();
      const store = await open(redisUrl, prefix);
      const admin = new Redis(redisUrl);
      try {
        await store.createRoom('r');
        await store.append(draft('r', 'x', 'cid'));
        const keys = (await admin.keys(`${prefix}*`)).sort();
        // Every key of room r carries the hash tag {r}; the registry's keys carry {rooms}.
        assert.deepEqual(keys, [`${prefix}cid:{r}`, `${prefix}log:{r}`, `${prefix}room:{r}`, `${prefix}{rooms}:names`, `${prefix}{rooms}:reg`]);
      } finally {
        await store.close();
        await deleteKeys(prefix);
        admin.disconnect();
      }
    });

    it('leaves no key of a deleted room, and none of the old history of a reset one', async () => {
      const prefix = uniquePrefix();
      const store = await open(redisUrl, prefix);
      const admin = new Redis(redisUrl);
      try {
        for (const room of ['gone', 'reset', 'kept']) {
          await store.createRoom(room);
          await store.append(draft(room, 'x', 'cid'));
        }
        assert.equal(await store.deleteRoom('gone'), true);
        await store.resetRoom('reset');
        const keys = (await admin.keys(`${prefix}*`)).sort();
        // A deleted room leaves only its tombstone (which expires).
        assert.deepEqual(keys, [`${prefix}cid:{kept}`, `${prefix}gone:{gone}`, `${prefix}log:{kept}`, `${prefix}room:{kept}`, `${prefix}room:{reset}`, `${prefix}{rooms}:names`, `${prefix}{rooms}:reg`]);
        assert.ok((await admin.ttl(`${prefix}gone:{gone}`)) > 0);
        assert.deepEqual(await admin.zrange(`${prefix}{rooms}:names`, 0, -1), ['kept', 'reset']);
        assert.deepEqual(Object.keys(await admin.hgetall(`${prefix}{rooms}:reg`)).sort(), ['kept', 'reset']);
      } finally {
        await store.close();
        await deleteKeys(prefix);
        admin.disconnect();
      }
    });

    it('a creation that comes between the two steps of a deletion keeps its room counted and listed', async () => {
      const prefix = uniquePrefix();
      const store = await open(redisUrl, prefix);
      const admin = new Redis(redisUrl);
      const roomKeys = (r: string): string[] => ['room', 'log', 'cid', 'gone'].map((k) => `${prefix}${k}:{${r}}`);
      const registry = [`${prefix}{rooms}:names`, `${prefix}{rooms}:reg`];
      try {
        await store.createRoom('x', 5);
        // Step 1 of a deletion on a node that then stalls: the room's state goes, its registration stays.
        const [existed, token] = (await admin.eval(DELETE_ROOM_LUA, 4, ...roomKeys('x'))) as [number, string];
        assert.equal(existed, 1);
        assert.equal(await store.countRooms(), 1);
        assert.deepEqual((await store.listRooms({ limit: 10 })).rooms, []);
        const made = await store.createRoom('x', 5);
        assert.equal(made.created, true);
        // Step 2 of that deletion, late: it must not unregister the room made meanwhile.
        await admin.eval(UNREGISTER_ROOM_LUA, 2, ...registry, 'x', token);
        assert.equal(await store.countRooms(), 1);
        assert.deepEqual((await store.listRooms({ limit: 10 })).rooms, [made.state]);
        assert.equal(await store.deleteRoom('x'), true);
        assert.equal(await store.countRooms(), 0);
        // A node that died between the two steps: the next creation of the name completes it.
        await store.createRoom('y', 1);
        await admin.eval(DELETE_ROOM_LUA, 4, ...roomKeys('y'));
        await admin.del(`${prefix}gone:{y}`); // the tombstone expired
        assert.equal((await store.createRoom('y', 1)).created, true);
        assert.equal(await store.countRooms(), 1);
        assert.equal((await store.listRooms({ limit: 10 })).rooms.length, 1);
      } finally {
        await store.close();
        await deleteKeys(prefix);
        admin.disconnect();
      }
    });

    it('trims entries stored before idempotency keys were per sender, with their index fields', async () => {
      const prefix = uniquePrefix();
      const store = await open(redisUrl, prefix);
      const admin = new Redis(redisUrl);
      try {
        await store.createRoom('r');
        // As the append script used to write it: the bare clientId in c and as the index field.
        const old = JSON.stringify({ type: 'message', from: { id: 'c', name: 'c' }, text: 'old', clientId: 'old-cid' });
        await admin.xadd(`${prefix}log:{r}`, '1-0', 'd', old, 't', String(Date.now()), 'c', 'old-cid');
        await admin.hset(`${prefix}cid:{r}`, 'old-cid', '1');
        await admin.hset(`${prefix}room:{r}`, 'lastSeq', '1');
        await store.append(draft('r', 'new', 'new-cid'));
        assert.equal(await admin.hlen(`${prefix}cid:{r}`), 2);
        assert.equal(await store.trim({ maxEntries: 0, maxAgeMs: Infinity }, Date.now()), 2);
        assert.equal(await admin.exists(`${prefix}cid:{r}`), 0);
      } finally {
        await store.close();
        await deleteKeys(prefix);
        admin.disconnect();
      }
    });

    it('rejects every call quickly with STORE_UNAVAILABLE when Redis cannot be reached', async () => {
      const store = new RedisStore({ url: `redis://127.0.0.1:${await freePort()}`, prefix: uniquePrefix(), connectTimeoutMs: 300 });
      try {
        await assertUnavailable(store.init(), 1500);
        await assertUnavailable(store.getRoom('r'), 500);
        await assertUnavailable(store.createRoom('r'), 500);
        await assertUnavailable(store.createRoom('r', 10), 500);
        await assertUnavailable(store.countRooms(), 500);
        await assertUnavailable(store.listRooms({ limit: 10 }), 500);
        await assertUnavailable(store.deleteRoom('r'), 500);
        await assertUnavailable(store.resetRoom('r'), 500);
        await assertUnavailable(store.append(draft('r', 'x')), 500);
        await assertUnavailable(store.readAfter('r', 0, 10), 500);
        await assertUnavailable(store.readBefore('r', undefined, 10), 500);
        await assertUnavailable(store.trim({ maxEntries: 1, maxAgeMs: 1 }, Date.now()), 500);
        assert.equal(await store.ping(), false);
      } finally {
        await store.close();
      }
    });
  });
});

describe('RedisStore outages (private redis-server)', { skip: skipPrivate }, () => {
  let server: PrivateRedis;
  before(async () => {
    server = await PrivateRedis.start();
  });
  after(async () => {
    await server?.stop();
  });

  it('fails fast while Redis is down and recovers by itself when it is back', async () => {
    const store = await open(server.url, uniquePrefix(), { commandTimeoutMs: 500 });
    try {
      await store.createRoom('r');
      assert.equal((await store.append(draft('r', 'before'))).entry.seq, 1);
      await server.kill();
      await assertUnavailable(store.append(draft('r', 'during')), 700);
      await assertUnavailable(store.readAfter('r', 0, 10), 700);
      assert.equal(await store.ping(), false);
      await server.restart();
      for (let i = 0; !(await store.ping()); i++) {
        assert.ok(i < 60, 'the store did not reconnect within 3 s');
        await sleep(50);
      }
      // Nothing was stored during the outage, and seqs continue where they were.
      assert.equal((await store.append(draft('r', 'after'))).entry.seq, 2);
      assert.deepEqual((await store.readAfter('r', 0, 10)).map((e) => (e.type === 'message' ? e.text : undefined)), ['before', 'after']);
    } finally {
      await store.close();
    }
  });

  it('recovers from a lost append reply when the caller retries with the same clientId', async () => {
    const store = await open(server.url, uniquePrefix(), { commandTimeoutMs: 200 });
    const admin = new Redis(server.url);
    try {
      await store.createRoom('r');
      await store.append(draft('r', 'first')); // Loads the script, so the paused call is an EVALSHA that will run.
      // Redis holds scripts for 600 ms: the append times out, then Redis runs it anyway.
      await admin.call('CLIENT', 'PAUSE', '600', 'WRITE');
      await assertUnavailable(store.append(draft('r', 'maybe lost', 'retry-me')), 500);
      await sleep(900);
      const retried = await store.append(draft('r', 'maybe lost', 'retry-me'));
      assert.equal(retried.duplicate, true);
      assert.equal(retried.entry.seq, 2);
      assert.deepEqual((await store.readAfter('r', 0, 10)).map((e) => e.seq), [1, 2]);
    } finally {
      await store.close();
      admin.disconnect();
    }
  });
});
