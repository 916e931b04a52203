/**
 * Disconnect orders under `switchboard serve --workers 2` without Redis, as real processes: an
 * order is relayed by the primary to the workers running then, and kept by the primary for the
 * workers that start later (a rolling restart's), so the disconnected poller's old presence
 * ticket is refused on them too.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkersProcess } from './fixtures/workers-process.js';

const built = existsSync('dist/src/cli/index.js');
const API = { authorization: 'Bearer the-api-key', connection: 'close' };

describe('--workers 2 without Redis: disconnect orders outlive a rolling restart', { skip: built ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  let server: WorkersProcess;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-workers-disconnect-'));
    server = await WorkersProcess.start(['--workers', '2', '--data-dir', dataDir, '--api-key', 'the-api-key', '--shutdown-timeout-ms', '1000']);
  });
  after(async () => {
    await server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it("the workers that replace the old ones (SIGHUP) refuse the disconnected poller's old ticket; joining again goes through", async () => {
    assert.equal((await fetch(`${server.url}/api/rooms/hall`, { method: 'PUT', headers: API })).status, 201);
    const join = async (): Promise<string> => {
      const res = await fetch(`${server.url}/api/rooms/hall/presence?member=zed&name=Zed`, { method: 'POST', headers: { connection: 'close' } });
      assert.equal(res.status, 201);
      return ((await res.json()) as { session: string }).session;
    };
    const poll = async (ticket: string): Promise<[number, string | undefined]> => {
      const res = await fetch(`${server.url}/api/rooms/hall/poll?member=zed&session=${encodeURIComponent(ticket)}`, { headers: { connection: 'close' } });
      return [res.status, ((await res.json()) as { code?: string }).code];
    };
    const old = await join();
    assert.equal((await fetch(`${server.url}/api/rooms/hall/members/zed`, { method: 'DELETE', headers: API })).status, 204);
    // The other worker hears the order from the primary a moment later (a poll right after it
    // reached that worker first once, in CI): refused twice in a row is by both workers, which
    // take connections in turn.
    const deadline = Date.now() + 5000;
    for (let refused = 0; refused < 2; ) {
      const answer = await poll(old);
      refused = answer[0] === 403 && answer[1] === 'MEMBER_DISCONNECTED' ? refused + 1 : 0;
      assert.ok(refused > 0 || Date.now() < deadline, `both workers refuse the old ticket within 5 s (last answer: ${answer.join(' ')})`);
      if (refused === 0) await new Promise((r) => setTimeout(r, 50));
    }
    const before = new Set(server.listeningNodes);
    server.child.kill('SIGHUP');
    await server.waitForLog((l) => l.role === 'primary' && l.msg === 'rolling restart done', 60_000, 'the rolling restart to end');
    assert.equal(server.listeningNodes.filter((n) => !before.has(n)).length, 2, 'two new workers');
    // Before: the new workers had never heard the order, and let the old ticket in (200).
    for (let i = 0; i < 4; i++) assert.deepEqual(await poll(old), [403, 'MEMBER_DISCONNECTED'], `poll ${i} (the workers take connections in turn)`);
    assert.equal((await poll(await join()))[0], 200);
  });
});
