import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { send, skipWithoutBrowser, useHarness, useRestartableServer, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: a lost connection', { skip }, () => {
  const suite = useHarness();
  // Over one SQLite file, so that a restart keeps the room and its log.
  const server = useRestartableServer('sb-e2e-lost');
  const serve = server.serve;

  it('shows a bar with "Retry now", leaves you out of "Here now", and sends what waited once back', async () => {
    const port = await serve(0);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/api/rooms/flaky`, { method: 'PUT' })).status, 201);
    const { page } = await suite.open({ name: 'Fay', hash: '#/room/flaky', transport: 'sse' }, base);
    const you = page.locator('.presence-list .person').filter({ hasText: '(you)' });
    await you.waitFor();

    await server.stop();
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
