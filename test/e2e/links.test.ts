import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: links and mentions in messages', { skip }, () => {
  const suite = useHarness({ rateLimitPerSecond: 1_000, rateLimitBurst: 1_000 });

  it('http(s) links are clickable, safe, and nothing else is markup', async () => {
    await createRoom(suite.h, 'links');
    const { page } = await suite.open({ name: 'Lin', hash: '#/room/links' });
    const text = 'docs at https://example.com/guide?x=1. not javascript:alert(1) nor <b>bold</b>, ask @Lin';
    await send(page, text);
    await waitForMessage(page, 'docs at');
    const link = page.getByRole('link', { name: 'https://example.com/guide?x=1' });
    assert.equal(await link.getAttribute('href'), 'https://example.com/guide?x=1');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await link.getAttribute('target'), '_blank');
    const bubble = page.locator('ol.entries > li.msg .text').filter({ hasText: 'docs at' });
    assert.equal(await bubble.locator('a').count(), 1, 'one link only');
    assert.equal(await bubble.locator('b').count(), 0, 'text is never markup');
    assert.equal(await bubble.textContent(), text, 'every character shown as written');
    assert.equal(await bubble.locator('.mention').textContent(), '@Lin');
    await page.screenshot({ path: '/tmp/e2e-links.png' });
  });

  it('"Copy link" copies a link to the message; opened (in another tab, from another room, past the first page of history), it shows the message', async () => {
    await createRoom(suite.h, 'linked');
    await createRoom(suite.h, 'elsewhere');
    // 150 messages: the one linked to is past the first page the room opens with.
    for (let i = 1; i <= 150; i++) {
      const res = await fetch(`${suite.h.base}/api/rooms/linked/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `message ${i}`, name: 'Bot' }) });
      assert.equal(res.status, 201);
    }
    const writer = await suite.open({ name: 'Lin', hash: '#/room/linked' });
    await writer.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: suite.h.base });
    const old = writer.page.locator('ol.entries > li.msg').filter({ has: writer.page.getByText('message 150', { exact: true }) });
    await old.waitFor();
    const copy = old.getByRole('button', { name: 'Copy link' });
    await copy.click();
    await old.getByRole('button', { name: 'Link copied' }).waitFor();
    const link = await writer.page.evaluate(() => navigator.clipboard.readText());
    const seq150 = await old.getAttribute('data-seq');
    assert.equal(link, `${suite.h.base}/#/room/linked/${seq150}`);
    await old.getByRole('button', { name: 'Copy link' }).waitFor();

    // A link to the third message, opened in another tab that was in another room.
    const seq3 = Number(seq150) - 147;
    const reader = await suite.open({ name: 'Rae', hash: '#/room/elsewhere' });
    await reader.page.goto(`${suite.h.base}/#/room/linked/${seq3}`);
    await reader.page.locator('li.msg.highlight', { hasText: 'message 3' }).waitFor();
    await waitConnected(reader.page);
    // The address then names the room: the same link again shows the message again.
    assert.equal(new URL(reader.page.url()).hash, '#/room/linked');
    await reader.page.locator('.messages').evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await reader.page.evaluate((href) => (location.hash = href), `#/room/linked/${seq3}`);
    await reader.page.locator('li.msg.highlight', { hasText: 'message 3' }).waitFor();
    assert.ok(await reader.page.locator('li.msg.highlight', { hasText: 'message 3' }).isVisible());
    // A fresh page opened on the link (the room joined from nothing).
    const fresh = await suite.open({ name: 'Fred', hash: `#/room/linked/${seq150}` });
    await fresh.page.locator('li.msg.highlight', { hasText: 'message 150' }).waitFor();
  });
});
