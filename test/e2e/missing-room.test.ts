import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { messageTexts, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage, type AppPage } from './harness.js';

const skip = skipWithoutBrowser();

/** Issue 11, defect 1: a room opened before it exists, messages written there, the room then made. */
describe('web app: a room that does not exist yet', { skip }, () => {
  const suite = useHarness();

  async function missingRoom(room: string): Promise<AppPage> {
    const app = await suite.open({ name: 'Nova', hash: `#/room/${room}`, waitConnected: false });
    await app.page.getByText(`There is no room #${room} yet.`).waitFor();
    await send(app.page, 'first, written before the room existed');
    await send(app.page, 'second, written before the room existed');
    await app.page.getByText('Queued: sends when the connection is back').first().waitFor();
    return app;
  }

  it('made from the sidebar: the tab joins it and sends what was queued, in order, once', async () => {
    const { page } = await missingRoom('newroom-sidebar');
    await page.getByLabel('Create or join a room').fill('newroom-sidebar');
    await page.getByLabel('Create or join a room').press('Enter');
    await waitConnected(page);
    await waitForMessage(page, 'second, written before the room existed');
    await page.screenshot({ path: '/tmp/e2e-missing-room-sidebar.png' });
    assert.deepEqual(await messageTexts(page), ['first, written before the room existed', 'second, written before the room existed']);
    const stored = (await (await fetch(`${suite.h.base}/api/rooms/newroom-sidebar/messages`)).json()) as { entries: { type: string; text?: string }[] };
    assert.deepEqual(
      stored.entries.filter((e) => e.type === 'message').map((e) => e.text),
      ['first, written before the room existed', 'second, written before the room existed'],
      'each queued message stored once',
    );
  });

  it("made from the banner's Create button: the queued messages are sent, not dropped", async () => {
    const { page } = await missingRoom('newroom-banner');
    await page.getByRole('button', { name: 'Create #newroom-banner' }).click();
    await waitConnected(page);
    await waitForMessage(page, 'second, written before the room existed');
    assert.deepEqual(await messageTexts(page), ['first, written before the room existed', 'second, written before the room existed']);
    assert.equal(await page.getByText('Queued: sends when the connection is back').count(), 0, 'nothing left queued');
  });

  it('made by someone else: opening it again from the room list joins, and the queue goes out', async () => {
    const { page } = await missingRoom('newroom-other');
    assert.equal((await fetch(`${suite.h.base}/api/rooms/newroom-other`, { method: 'PUT' })).status, 201);
    await page.getByLabel('Create or join a room').fill('newroom-other');
    await page.getByLabel('Create or join a room').press('Enter');
    await waitConnected(page);
    await waitForMessage(page, 'second, written before the room existed');
  });

  it('left for another room while queued: the loss is said, not silent', async () => {
    const { page } = await missingRoom('never-made');
    await page.evaluate(() => (location.hash = '#/room/lobby'));
    await waitConnected(page);
    await page.getByText('2 messages you wrote in #never-made could not be sent').waitFor();
  });

  it('the wire inspector shows the refused first connection, and a row opens to the whole exchange', async () => {
    for (const transport of ['websocket', 'sse', 'long-polling'] as const) {
      const app = await suite.open({ name: 'Wes', hash: `#/room/nowhere-${transport}`, transport, waitConnected: false });
      const { page } = app;
      await page.getByText(`There is no room #nowhere-${transport} yet.`).waitFor();
      // The refusal: an HTTP answer 404 (SSE, polling) or the WebSocket's error frame.
      const failed = page.locator('.wire-row.openable').filter({ hasText: 'ROOM_NOT_FOUND' }).first();
      await failed.waitFor();
      await failed.click();
      assert.equal(await failed.getAttribute('aria-expanded'), 'true');
      const detail = (await failed.locator('.w-detail').textContent()) ?? '';
      if (transport !== 'websocket') assert.match(detail, /← 404/, transport);
      assert.match(detail, /ROOM_NOT_FOUND/, transport);
      if (transport === 'websocket') await page.screenshot({ path: '/tmp/e2e-wire-refused.png' });
      await failed.press('Enter');
      assert.equal(await failed.locator('.w-detail').count(), 0, 'Enter closes it again');
    }
  });

  it('a link to a name no room can have says so, and the address names the room shown instead', async () => {
    const { page } = await suite.open({ name: 'Olaf', hash: '#/room/' + encodeURIComponent('team chat') });
    await page.getByRole('alert').filter({ hasText: 'There can be no room “team chat”' }).waitFor();
    assert.equal(await page.locator('#room-title').textContent(), '#lobby');
    assert.equal(new URL(page.url()).hash, '#/room/lobby', 'the address bar no longer names the bad room');
  });
});
