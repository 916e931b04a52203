import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createSwitchboard, type Switchboard } from '../../src/server/index.js';
import { send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: a lost connection', { skip }, () => {
  const suite = useHarness();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-e2e-lost-'));
  let server: Switchboard | undefined;

  /** A server on `port` over the same SQLite file, so that a restart keeps the room and its log. */
  async function serve(port: number): Promise<number> {
    server = createSwitchboard({ port, host: '127.0.0.1', store: 'sqlite', dataDir, logLevel: 'silent', shutdownTimeoutMs: 500 });
    return server.listen();
  }

  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows a bar with "Retry now", leaves you out of "Here now", and sends what waited once back', async () => {
    const port = await serve(0);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/api/rooms/flaky`, { method: 'PUT' })).status, 201);
    const { page } = await suite.open({ name: 'Fay', hash: '#/room/flaky', transport: 'sse' }, base);
    const you = page.locator('.presence-list .person').filter({ hasText: '(you)' });
    await you.waitFor();

    await server!.close();
    const bar = page.getByRole('alert').filter({ hasText: 'Connection lost: reconnecting…' });
    await bar.waitFor();
    await send(page, 'written while the server was away');
    await page.getByText('1 message will be sent once it is back.').waitFor();
    assert.equal(await you.count(), 0, 'not listed as present while disconnected');
    await page.screenshot({ path: '/tmp/e2e-connection-lost.png' });

    await serve(port);
    // "Retry now" does not wait out the backoff (it may have reconnected by itself meanwhile).
    await page.getByRole('button', { name: 'Retry now' }).click({ timeout: 2000 }).catch(() => undefined);
    await waitConnected(page);
    await waitForMessage(page, 'written while the server was away');
    await you.waitFor();
    assert.equal(await bar.count(), 0, 'the bar is gone once connected');
  });
});
