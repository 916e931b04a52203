/**
 * A long poll whose store read fails while the poll is woken meanwhile: what a Redis failover
 * does to a node (its reads refused for a moment, "Stream isn't writeable"). The client gets
 * STORE_UNAVAILABLE, and the node's process sees no unhandled rejection, which would end it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { Entry } from '../src/protocol/types.js';
import { MemoryStore } from '../src/server/store/memory-store.js';
import { postJson, request, startServer } from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The memory store as the hub sees a Redis store (no synchronous read of a room's tail), whose
 * reads, once `failing` is set, are refused after READ_FAILS_AFTER_MS, as a Redis client's are
 * during a failover.
 */
class StoreInFailover extends MemoryStore {
  failing = false;

  override readAfterNow(): undefined {
    return undefined;
  }

  override async readAfter(room: string, afterSeq: number, limit: number): Promise<Entry[]> {
    if (this.failing) {
      await sleep(READ_FAILS_AFTER_MS);
      throw new SwitchboardError('STORE_UNAVAILABLE', "Stream isn't writeable and enableOfflineQueue options is false");
    }
    return super.readAfter(room, afterSeq, limit);
  }
}

const READ_FAILS_AFTER_MS = 50;

describe('a long poll whose read fails during a failover', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };
  process.on('unhandledRejection', onUnhandled);
  after(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it('answers STORE_UNAVAILABLE, and its held poll, woken by its timeout while the read waited, leaves no unhandled rejection', async (t) => {
    const store = new StoreInFailover();
    const { server, url } = await startServer({ messageStore: store, rateLimitPerSecond: 10_000, rateLimitBurst: 10_000 });
    t.after(() => server.close());
    assert.equal((await request(`${url}/api/rooms/r`, { method: 'PUT' })).status, 201);
    for (const text of ['one', 'two']) assert.equal((await postJson(`${url}/api/rooms/r/messages`, { text })).status, 201);
    const head = ((await request(`${url}/api/rooms/r/poll?limit=1`)).json() as { epoch: string }).epoch;
    // A poll held at the head keeps the room's channel on this node, as live clients do.
    const holder = new AbortController();
    const held = fetch(`${url}/api/rooms/r/longpoll?after=${head}:2&timeout=10000`, { signal: holder.signal }).catch(() => undefined);
    t.after(() => holder.abort());
    await sleep(100);

    store.failing = true;
    // Behind the head, with a store that has no tail in memory: the poll is held, then read; its
    // 1 ms timeout wakes it while the read waits, and its own answer's read fails too.
    const answer = await request(`${url}/api/rooms/r/longpoll?after=${head}:1&timeout=1`);
    await sleep(READ_FAILS_AFTER_MS * 4);
    store.failing = false;

    assert.equal(answer.status, 503);
    assert.equal((answer.json() as { code: string }).code, 'STORE_UNAVAILABLE');
    assert.deepEqual(unhandled, [], 'no rejection left unhandled');
    holder.abort();
    await held;
  });
});
