import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();
const API_KEY = 'e2e-admin-key-0123456789';

describe('web app: the admin page', { skip }, () => {
  const suite = useHarness({ apiKey: API_KEY });

  it('with the API key: rooms, members and their transports, rate; disconnect, reset, delete', async () => {
    await createRoom(suite.h, 'ops');
    const ann = await suite.open({ name: 'Ann', hash: '#/room/ops', transport: 'sse' });
    const bob = await suite.open({ name: 'Bob', hash: '#/room/ops', transport: 'websocket' });
    await send(ann.page, 'hello from ann');
    await waitForMessage(bob.page, 'hello from ann');

    const { page } = await suite.open({ name: 'Root', hash: '#/admin', waitConnected: false });
    page.on('dialog', (d) => void d.accept());
    await page.getByText('You administer no room').waitFor();
    await page.getByLabel('Server API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    const ops = page.getByRole('article', { name: '#ops' });
    await ops.getByRole('list', { name: 'Members of #ops' }).getByText('Ann').waitFor();
    await ops.getByText('Server-Sent Events').waitFor();
    await ops.getByText('WebSocket').waitFor();
    await page.getByText(/connections: WebSocket [1-9]/).waitFor();
    // Which node holds each connection (one node here: host/pid).
    await page.getByText(/by node: \S+\/\d+ [2-9]/).waitFor();
    await ops.getByText(/^WebSocket · \S+\/\d+$/).first().waitFor();
    // The members' ids, connections and buttons in columns, whatever each row's connections say.
    const columns = await ops.locator('.admin-member').evaluateAll((rows) =>
      rows.map((row) => ['.admin-member-id', '.chips', 'button'].map((s) => Math.round(row.querySelector(s)!.getBoundingClientRect()[s === '.admin-member-id' ? 'left' : 'right']))),
    );
    assert.equal(columns.length, 2);
    assert.deepEqual(columns[0], columns[1], 'one column each');
    // A room of one message: "1 entry" (it said "1 entries").
    await createRoom(suite.h, 'solo');
    const posted = await fetch(`${suite.h.base}/api/rooms/solo/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body: JSON.stringify({ text: 'alone', name: 'bot', member: 'bot' }) });
    assert.equal(posted.status, 201);
    await page.getByRole('article', { name: '#solo' }).getByText(/^0 members · 1 entry · /).waitFor();
    await page.screenshot({ path: '/tmp/e2e-admin.png' });

    // Disconnect Bob: his tab is told, Ann stays.
    await ops.getByRole('button', { name: 'Disconnect Bob from #ops' }).click();
    await page.getByText('Bob was disconnected from #ops.').waitFor();
    await bob.page.getByText('An administrator disconnected you from #ops.').waitFor();

    // Reset: the log starts again.
    await ops.getByRole('button', { name: 'Reset history #ops' }).click();
    await page.getByText('Reset history: done for #ops.').waitFor();
    const info = (await (await fetch(`${suite.h.base}/api/rooms/ops`)).json()) as { lastSeq: number };
    assert.equal(info.lastSeq, 0);

    // Delete: the room is gone.
    await ops.getByRole('button', { name: 'Delete room #ops' }).click();
    await page.getByText('Delete room: done for #ops.').waitFor();
    assert.equal((await fetch(`${suite.h.base}/api/rooms/ops`)).status, 404);
    await ops.waitFor({ state: 'detached' });
  });

  // Every transport: WebSocket and SSE have their connection closed; a held long poll answers
  // 403 MEMBER_DISCONNECTED, and a short poller's next poll is refused with it. A guest's polls
  // claim no member (only their presence ticket names it): the order must reach them all the same.
  it('a member disconnected by an administrator is told so, and may join again (every transport)', async () => {
    await createRoom(suite.h, 'kick');
    const transports = ['websocket', 'sse', 'long-polling', 'polling'] as const;
    const members = await Promise.all(transports.map((transport) => suite.open({ name: `Kim-${transport}`, hash: '#/room/kick', transport })));
    const { members: here } = (await (await fetch(`${suite.h.base}/api/rooms/kick/presence`)).json()) as { members: Array<{ name: string; member: string }> };
    for (const [i, transport] of transports.entries()) {
      const { page } = members[i]!;
      const member = here.find((m) => m.name === `Kim-${transport}`)!.member;
      const res = await fetch(`${suite.h.base}/api/rooms/kick/members/${encodeURIComponent(member)}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` } });
      assert.equal(res.status, 204, `DELETE member over ${transport}`);
      // Before: a guest's held long poll was not ended (it claims no member), and its next one came after the order's 10 s.
      const banner = page.locator('.banner-text', { hasText: /disconnected|closed/ });
      await banner.waitFor().catch((err: Error) => assert.fail(`over ${transport}: no banner (${err.message.split('\n')[0]})`));
      assert.equal(await banner.textContent(), 'An administrator disconnected you from #kick.', `over ${transport}`);

      // Joining again is let through at once (a new presence ticket), and new messages come.
      await page.getByRole('button', { name: 'Join again' }).click();
      await waitConnected(page, transport);
      const posted = await fetch(`${suite.h.base}/api/rooms/kick/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `welcome back over ${transport}`, name: 'Ops' }) });
      assert.ok(posted.ok, `POST message: ${posted.status}`);
      await waitForMessage(page, `welcome back over ${transport}`);
    }
  });

  it('at phone width (390 px) the page is one column: nothing reaches past the right edge, with a room of the longest name too', async () => {
    await createRoom(suite.h, 'narrow');
    // 64 letters and no break: the implicit column of the room list was as wide as this name.
    const longest = 'n'.repeat(64);
    await createRoom(suite.h, longest);
    await suite.open({ name: 'Cy', hash: '#/room/narrow', transport: 'sse' });
    const { page } = await suite.open({ name: 'Root', hash: '#/admin', waitConnected: false, viewport: { width: 390, height: 844 } });
    await page.getByLabel('Server API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Use key' }).click();
    const room = page.getByRole('article', { name: '#narrow' });
    await room.getByRole('button', { name: 'Disconnect Cy from #narrow' }).waitFor();
    await page.getByText(/connections: WebSocket/).waitFor();
    await page.getByRole('button', { name: `Delete room #${longest}` }).waitFor();
    const overflow = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      past: [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className}`),
    }));
    await page.screenshot({ path: '/tmp/e2e-admin-390.png' });
    assert.deepEqual(overflow, { scrollWidth: 390, past: [] });
  });

  it('a wrong key is refused with the server\'s word, and nothing is shown', async () => {
    const app = await suite.open({ name: 'Mal', hash: '#/admin', waitConnected: false });
    await app.page.getByLabel('Server API key').fill('not-the-key');
    await app.page.getByRole('button', { name: 'Use key' }).click();
    await app.page.getByText(/That key was refused/).waitFor();
    await app.page.getByText('You administer no room').waitFor();
    assert.equal(await app.page.getByRole('article').count(), 0);
  });
});
