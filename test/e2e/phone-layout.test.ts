import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createRoom, keepNames, skipWithoutBrowser, useHarness, useRestartableServer, waitConnected } from './harness.js';

const skip = skipWithoutBrowser();
const PHONES = [
  { width: 390, height: 844 },
  { width: 320, height: 640 },
];

interface Box {
  name: string;
  top: number;
  bottom: number;
  width: number;
}

/** The chat header's visible controls, and the width its content box offers. */
function headerBoxes(page: Page): Promise<{ boxes: Box[]; width: number }> {
  return page.evaluate(() => {
    const header = document.querySelector('.chat-header')!;
    const cs = getComputedStyle(header);
    const width = header.getBoundingClientRect().width - Number.parseFloat(cs.paddingLeft) - Number.parseFloat(cs.paddingRight);
    const boxes = [...header.children]
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height > 0)
      .map(({ el, r }) => ({ name: el.getAttribute('aria-label') ?? el.className, top: r.top, bottom: r.bottom, width: r.width }));
    return { boxes, width };
  });
}

/** Rows of boxes: those whose vertical extents overlap share a row. */
function rows(boxes: Box[]): Box[][] {
  const out: Box[][] = [];
  for (const box of [...boxes].sort((a, b) => a.top - b.top)) {
    const row = out.find((r) => r.some((b) => box.top < b.bottom - 1 && b.top < box.bottom - 1));
    if (row) row.push(box);
    else out.push([box]);
  }
  return out;
}

/** How many lines the first occurrence of `text` in `selector` is laid out on. */
async function linesOf(page: Page, selector: string, text: string): Promise<number> {
  await keepNames(page);
  return page.evaluate(
    ([sel, wanted]) => {
      const root = document.querySelector(sel!)!;
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      const whole: Text[] = [];
      for (let n = walker.nextNode(); n; n = walker.nextNode()) whole.push(n as Text);
      // The text may span nodes (a <code> in a sentence): find its start and end across them.
      const joined = whole.map((n) => n.data).join('');
      const at = joined.indexOf(wanted!);
      if (at < 0) return 0;
      const locate = (offset: number): [Text, number] => {
        for (const n of whole) {
          if (offset <= n.data.length) return [n, offset];
          offset -= n.data.length;
        }
        throw new Error('past the end');
      };
      const range = document.createRange();
      range.setStart(...locate(at));
      range.setEnd(...locate(at + wanted!.length));
      return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top))).size;
    },
    [selector, text],
  );
}

describe('web app on a phone', { skip }, () => {
  const suite = useHarness();

  it('the chat header leaves no control alone on a row of its own, at 390 and 320 px', async () => {
    await createRoom(suite.h, 'lobby');
    for (const viewport of PHONES) {
      const { page } = await suite.open({ name: 'bob', hash: '#/room/lobby', transport: 'long-polling', viewport });
      const { boxes, width } = await headerBoxes(page);
      for (const row of rows(boxes)) {
        if (row.length === 1) assert.ok(row[0]!.width >= width - 2, `${viewport.width} px: ${row[0]!.name} is alone on a row, ${Math.round(row[0]!.width)} of ${Math.round(width)} px wide`);
      }
      for (const box of boxes) assert.ok(box.width <= width + 1, `${viewport.width} px: ${box.name} overflows the header`);
      await page.close();
    }
  });

  it('the admin page keeps a flag (--api-key) on one line, at 390 and 320 px', async () => {
    for (const viewport of PHONES) {
      const { page } = await suite.open({ name: 'dan', hash: '#/admin', waitConnected: false, viewport });
      await page.getByText('You administer no room').waitFor();
      assert.equal(await linesOf(page, '.admin-view', '--api-key'), 1, `${viewport.width} px: --api-key broken across lines`);
      await page.close();
    }
  });
});

describe('web app on a phone: "Here now" while the server restarts', { skip }, () => {
  const suite = useHarness();
  // Over one SQLite file, so that a restart keeps the room and its log.
  const server = useRestartableServer('sb-e2e-here');
  const serve = server.serve;

  it('says who was last seen, dimmed, or that it does not know, never "Nobody yet"', async () => {
    const port = await serve(0);
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/api/rooms/restart`, { method: 'PUT' })).status, 201);
    const { page } = await suite.open({ name: 'eve', hash: '#/room/restart', transport: 'websocket', viewport: PHONES[0] }, base);
    const list = page.locator('.presence-list');
    const heading = page.locator('#presence-title');
    const reconnecting = page.locator('.chat-header .status[data-status="reconnecting"]');
    await page.getByRole('button', { name: 'Rooms and people' }).click();
    await list.locator('.person').filter({ hasText: '(you)' }).waitFor();

    // Alone in the room: while the server restarts, who is here is not known (the QA's "HERE NOW (0) Nobody yet").
    await server.stop();
    await reconnecting.waitFor();
    // The status pill and the list are drawn on the same status event.
    await page.screenshot({ path: '/tmp/e2e-phone-here-unknown.png' });
    assert.equal(await list.getByText('Nobody yet').count(), 0, 'not "Nobody yet" while reconnecting');
    assert.doesNotMatch((await heading.textContent()) ?? '', /\(0\)/, 'no count of 0 while reconnecting');
    await list.getByText('Unknown while reconnecting').waitFor();

    // With fay: she stays listed as last seen, dimmed, under a note that says so.
    await serve(port);
    await waitConnected(page);
    await list.getByText('Unknown while reconnecting').waitFor({ state: 'detached' });
    await suite.open({ name: 'fay', hash: '#/room/restart', transport: 'long-polling', viewport: PHONES[0] }, base);
    const fay = list.locator('.person').filter({ hasText: 'fay' });
    await fay.waitFor();
    await server.stop();
    await reconnecting.waitFor();
    await page.screenshot({ path: '/tmp/e2e-phone-here-last-seen.png' });
    assert.equal(await fay.count(), 1, 'fay, as last seen');
    const opacity = await fay.evaluate((el) => {
      let o = 1;
      for (let e: Element | null = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
      return o;
    });
    assert.ok(opacity < 1, 'dimmed');
    await list.getByText('Reconnecting: as last seen').waitFor();

    await serve(port);
    await waitConnected(page);
    await list.locator('.person').filter({ hasText: '(you)' }).waitFor();
    await list.getByText(/reconnecting/i).waitFor({ state: 'detached' });
  });
});
