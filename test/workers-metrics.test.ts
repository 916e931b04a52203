/**
 * `/metrics` under `switchboard serve --workers 2`, as real processes: the primary gathers every
 * worker's metrics over IPC, and scrapes that come while a gather runs share it
 * (`switchboard_metrics_gathers_total` counts the gathers).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkersProcess } from './fixtures/workers-process.js';

const built = existsSync('dist/src/cli/index.js');

/** One scrape on a connection of its own (either worker): its status, body and the gather that made it. */
async function scrape(url: string): Promise<{ status: number; body: string; gather: number }> {
  const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' } });
  const body = await res.text();
  return { status: res.status, body, gather: Number(/^switchboard_metrics_gathers_total (\d+)$/m.exec(body)?.[1]) };
}

describe('--workers 2: concurrent /metrics scrapes share one gather', { skip: built ? false : 'run `npm run build` first', timeout: 120_000 }, () => {
  let server: WorkersProcess;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sb-workers-metrics-'));
    // 52 scrapes within a fraction of a second from one address: past --query-rate's burst of 50,
    // one budget for both workers since they share it (the last scrape was refused 429 when the
    // machine was quick enough that no token came back meanwhile).
    server = await WorkersProcess.start(['--workers', '2', '--data-dir', dataDir, '--query-rate', '1000']);
  });
  after(async () => {
    await server?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('50 at once: all 200, far fewer gathers than scrapes, one body per gather; the next scrape starts a new one', async () => {
    const first = await scrape(server.url);
    assert.equal(first.status, 200);
    assert.ok(first.gather >= 1, 'the gathers are counted');
    // The primary's count of spends it could not pass on (none here), once in the body: not a second family beside the workers'.
    assert.equal(first.body.match(/^switchboard_primary_spends_dropped_total 0$/gm)?.length, 1);

    const burst = await Promise.all(Array.from({ length: 50 }, () => scrape(server.url)));
    for (const s of burst) assert.equal(s.status, 200);
    const bodies = new Map<number, Set<string>>();
    for (const s of burst) {
      assert.ok(s.gather > first.gather, 'no scrape gets a gather that settled before it came');
      bodies.set(s.gather, (bodies.get(s.gather) ?? new Set()).add(s.body));
    }
    // Each was its own gather before (50); shared, 2 to 8 here, as the scrapes' connections arrive.
    assert.ok(bodies.size <= 25, `50 scrapes took ${bodies.size} gathers`);
    for (const [gather, set] of bodies) assert.equal(set.size, 1, `the scrapes that shared gather ${gather} got the same body`);

    const next = await scrape(server.url);
    assert.equal(next.gather, Math.max(...bodies.keys()) + 1, 'a scrape after the burst starts a gather of its own');
  });
});
