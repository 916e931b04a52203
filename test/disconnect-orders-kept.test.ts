/**
 * A single node without Redis (SQLite, the default) keeps the administrators' disconnect orders
 * with the data: restarted on the same data dir, it still refuses the disconnected poller's old
 * presence ticket.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request, startServer } from './helpers.js';

const API = { authorization: 'Bearer the-api-key' };

describe('disconnect orders on a single SQLite node', () => {
  it("outlive a restart on the same data dir: the disconnected poller's old ticket is still refused, joining again goes through", async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sb-kicks-kept-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    // The API key keys the presence tickets: the same key after the restart, so the old ticket is still good.
    const options = { store: 'sqlite' as const, dataDir, apiKey: 'the-api-key' };
    let node = await startServer(options);
    t.after(() => node.server.close());
    const enter = async (): Promise<string> => {
      const res = await request(`${node.url}/api/rooms/hall/presence?member=zed&name=Zed`, { method: 'POST' });
      assert.equal(res.status, 201);
      return (res.json() as { session: string }).session;
    };
    const poll = async (ticket: string): Promise<[number, string | undefined]> => {
      const res = await request(`${node.url}/api/rooms/hall/poll?member=zed&session=${encodeURIComponent(ticket)}`);
      return [res.status, (res.json() as { code?: string }).code];
    };
    assert.equal((await request(`${node.url}/api/rooms/hall`, { method: 'PUT', headers: API })).status, 201);
    const old = await enter();
    assert.equal((await poll(old))[0], 200);
    assert.equal((await request(`${node.url}/api/rooms/hall/members/zed`, { method: 'DELETE', headers: API })).status, 204);
    assert.deepEqual(await poll(old), [403, 'MEMBER_DISCONNECTED']);

    await node.server.close();
    node = await startServer(options);
    // Before: the restarted node had forgotten the order and let the old ticket in (200).
    assert.deepEqual(await poll(old), [403, 'MEMBER_DISCONNECTED']);
    assert.equal((await poll(await enter()))[0], 200);
  });
});
