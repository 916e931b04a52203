/**
 * The wire inspector's list: it follows the newest rows unless the user scrolled up, a visit to
 * Compare included; and an HTTP row tells the body sent ("→") from the answer ("← status").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { createRoom, pickTransport, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

/** The list's scroll position: how far from the top, and how far from the bottom. */
function position(page: Page): Promise<{ top: number; fromBottom: number; overflow: number }> {
  return page.locator('.wire-scroll').evaluate((s) => ({ top: s.scrollTop, fromBottom: s.scrollHeight - s.scrollTop - s.clientHeight, overflow: s.scrollHeight - s.clientHeight }));
}

/** Waits until `n` more rows were added to the list than now. */
async function moreRows(page: Page, n: number): Promise<void> {
  const count = await page.locator('.wire-row').count();
  await page.waitForFunction(([c, more]) => document.querySelectorAll('.wire-row').length >= Math.min(c! + more!, 200) && document.querySelectorAll('.wire-row').length !== c, [count, n] as const);
}

async function toView(page: Page, view: 'Chat' | 'Compare'): Promise<void> {
  await page.getByRole('button', { name: view, exact: true }).click();
  if (view === 'Compare') await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4, undefined, { timeout: 15_000 });
  else await page.locator('.wire-scroll').waitFor();
}

describe('web app: the wire inspector list', { skip }, () => {
  const s = useHarness();

  it('follows the newest rows, also after a visit to Compare; not once the user scrolled up, until they scroll back down', { timeout: 60_000 }, async () => {
    await createRoom(s.h, 'follow');
    const { page } = await s.open({ name: 'Fay', transport: 'polling', pollIntervalMs: 250, hash: '#/room/follow', viewport: { width: 1400, height: 700 } });
    // A list longer than the panel (a poll every 250 ms is a row each).
    await page.waitForFunction(() => { const l = document.querySelector('.wire-scroll')!; return l.scrollHeight > l.clientHeight + 300; }, undefined, { timeout: 30_000 });
    await moreRows(page, 2);
    assert.ok((await position(page)).fromBottom < 2, 'at the bottom at first');

    await toView(page, 'Compare');
    await page.waitForTimeout(800);
    await toView(page, 'Chat');
    await moreRows(page, 2);
    let at = await position(page);
    assert.ok(at.top > 0 && at.fromBottom < 2, `at the bottom after Compare: ${JSON.stringify(at)}`);
    await send(page, 'after compare');
    await page.locator('.wire-row', { hasText: 'after compare' }).first().waitFor();
    await moreRows(page, 1);
    at = await position(page);
    assert.ok(at.fromBottom < 2, `still following after a new message: ${JSON.stringify(at)}`);
    await page.screenshot({ path: '/tmp/wt-q3-shots/wire-follows-after-compare.png' });

    // Scrolled up: the list stays where the user put it, a visit to Compare included.
    await page.locator('.wire-scroll').hover();
    await page.mouse.wheel(0, -400);
    await page.waitForFunction(() => { const l = document.querySelector('.wire-scroll')!; return l.scrollHeight - l.scrollTop - l.clientHeight > 300; });
    const left = (await position(page)).top;
    await moreRows(page, 3);
    assert.ok(Math.abs((await position(page)).top - left) < 2, 'not moved by new rows');
    await toView(page, 'Compare');
    await toView(page, 'Chat');
    await moreRows(page, 2);
    at = await position(page);
    assert.ok(Math.abs(at.top - left) < 2 && at.fromBottom > 300, `where the user left it after Compare: ${JSON.stringify(at)}, left at ${left}`);

    // Back at the bottom: following again.
    await page.locator('.wire-scroll').hover();
    await page.mouse.wheel(0, 100_000);
    await page.waitForFunction(() => { const l = document.querySelector('.wire-scroll')!; return l.scrollHeight - l.scrollTop - l.clientHeight < 2; });
    await moreRows(page, 3);
    assert.ok((await position(page)).fromBottom < 2, 'follows again');
  });

  it('an HTTP row shows the body sent ("→ {…}") apart from the answer ("← 201 {…}", "← 204 no body")', { timeout: 30_000 }, async () => {
    await createRoom(s.h, 'rows');
    const { page } = await s.open({ name: 'Gus', hash: '#/room/rows', viewport: { width: 1400, height: 900 } });
    await pickTransport(page, 'sse');
    const panel = page.getByRole('region', { name: 'Wire inspector' });
    await send(page, 'gus now on SSE');
    await waitForMessage(page, 'gus now on SSE');
    const post: Locator = panel.locator('.wire-row.kind-http', { hasText: 'POST /api/rooms/rows/messages' }).last();
    await post.waitFor();
    assert.match((await post.locator('.w-sent').textContent())!, /^→ \{"text":"gus now on SSE","clientId":/);
    const answer = (await post.locator('.w-answer').textContent())!;
    assert.match(answer, /^← 201 \{.*"seq":\d+/);
    assert.doesNotMatch(answer, /gus now on SSE/, 'the answer is not the body sent');

    // A typing notice: 204, no body.
    await page.getByLabel('Message', { exact: true }).pressSequentially('typing');
    const typing = panel.locator('.wire-row.kind-http', { hasText: /POST \/api\/rooms\/rows\/typing/ }).last();
    await typing.waitFor();
    assert.match((await typing.locator('.w-sent').textContent())!, /^→ \{/);
    assert.equal((await typing.locator('.w-answer').textContent())!, '← 204 no body');
    await typing.locator('.w-main').click();
    assert.match((await typing.locator('.w-detail').textContent())!, /^POST \/api\/rooms\/rows\/typing\n\n→ \{.*\}\n\n← 204 \(no body\)$/s);
    await page.screenshot({ path: '/tmp/wt-q3-shots/wire-row-sent-and-answer.png' });
  });
});
