/**
 * Disconnect orders under `switchboard serve --workers 2` without Redis, as real processes: an
 * order is relayed by the primary to the workers running then, and kept in the SQLite file the
 * workers share for the workers that start later (a rolling restart's, or every worker of a
 * restarted node), so the disconnected poller's old presence ticket is refused on them too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { WorkersProcess } from './fixtures/workers-process.js';

const built = existsSync('dist/src/cli/index.js');
const API = { authorization: 'Bearer the-api-key', connection: 'close' };
/** The API key keys the presence tickets: the same key after a restart, so an old ticket is still good. */
const ARGS = ['--workers', '2', '--api-key', 'the-api-key', '--shutdown-timeout-ms', '1000'];

/** Joins `hall` as the poller zed through `url`: its presence ticket. */
async function enter(url: string): Promise<string> {
  const res = await fetch(`${url}/api/rooms/hall/presence?member=zed&name=Zed`, { method: 'POST', headers: { connection: 'close' } });
  assert.equal(res.status, 201);
  return ((await res.json()) as { session: string }).session;
}

/** Polls `hall` as zed with `ticket` (a new connection: either worker may take it): [status, code]. */
async function poll(url: string, ticket: string): Promise<[number, string | undefined]> {
  const res = await fetch(`${url}/api/rooms/hall/poll?member=zed&session=${encodeURIComponent(ticket)}`, { headers: { connection: 'close' } });
  return [res.status, ((await res.json()) as { code?: string }).code];
}

describe('--workers 2 without Redis: disconnect orders outlive a rolling restart', { skip: built ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  let server: WorkersProcess;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-workers-disconnect-'));
    server = await WorkersProcess.start([...ARGS, '--data-dir', dataDir]);
  });
  after(async () => {
    await server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it("the workers that replace the old ones (SIGHUP) refuse the disconnected poller's old ticket; joining again goes through", async () => {
    assert.equal((await fetch(`${server.url}/api/rooms/hall`, { method: 'PUT', headers: API })).status, 201);
    const old = await enter(server.url);
    assert.equal((await fetch(`${server.url}/api/rooms/hall/members/zed`, { method: 'DELETE', headers: API })).status, 204);
    // The other worker hears the order from the primary a moment later (a poll right after it
    // reached that worker first once, in CI): refused twice in a row is by both workers, which
    // take connections in turn.
    const deadline = Date.now() + 5000;
    for (let refused = 0; refused < 2; ) {
      const answer = await poll(server.url, old);
      refused = answer[0] === 403 && answer[1] === 'MEMBER_DISCONNECTED' ? refused + 1 : 0;
      assert.ok(refused > 0 || Date.now() < deadline, `both workers refuse the old ticket within 5 s (last answer: ${answer.join(' ')})`);
      if (refused === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const before = new Set(server.listeningNodes);
    server.child.kill('SIGHUP');
    await server.waitForLog((l) => l.role === 'primary' && l.msg === 'rolling restart done', 60_000, 'the rolling restart to end');
    assert.equal(server.listeningNodes.filter((n) => !before.has(n)).length, 2, 'two new workers');
    // Before: the new workers had never heard the order, and let the old ticket in (200).
    for (let i = 0; i < 4; i++) assert.deepEqual(await poll(server.url, old), [403, 'MEMBER_DISCONNECTED'], `poll ${i} (the workers take connections in turn)`);
    assert.equal((await poll(server.url, await enter(server.url)))[0], 200);
  });
});

describe('--workers 2 without Redis: disconnect orders outlive a restart of the whole node', { skip: built ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  let server: WorkersProcess | undefined;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-workers-restart-'));
  });
  after(async () => {
    await server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it("kept in the SQLite file once acknowledged; the restarted primary and workers refuse the disconnected poller's old ticket; joining again goes through", async () => {
    server = await WorkersProcess.start([...ARGS, '--data-dir', dataDir]);
    assert.equal((await fetch(`${server.url}/api/rooms/hall`, { method: 'PUT', headers: API })).status, 201);
    const old = await enter(server.url);
    assert.equal((await poll(server.url, old))[0], 200);
    assert.equal((await fetch(`${server.url}/api/rooms/hall/members/zed`, { method: 'DELETE', headers: API })).status, 204);
    // Acknowledged once kept: the order is in the file the workers share, once.
    const db = new Database(join(dataDir, 'switchboard.db'), { readonly: true });
    try {
      assert.deepEqual(db.prepare('SELECT member, room FROM disconnects').all(), [{ member: 'zed', room: 'hall' }]);
    } finally {
      db.close();
    }

    // The whole node stops (the primary drains every worker and exits) and starts again on the same data dir.
    server.child.kill('SIGTERM');
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    server = await WorkersProcess.start([...ARGS, '--data-dir', dataDir]);
    // Before: the new primary and workers had never heard the order and let the old ticket in (200).
    for (let i = 0; i < 4; i++) assert.deepEqual(await poll(server.url, old), [403, 'MEMBER_DISCONNECTED'], `poll ${i} (the workers take connections in turn)`);
    assert.equal((await poll(server.url, await enter(server.url)))[0], 200);
  });
});
