import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: links and mentions in messages', { skip }, () => {
  const suite = useHarness();

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
});
