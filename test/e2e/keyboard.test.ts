/**
 * Keyboard and screen-reader use of the app: Tab stops, roving focus, focus kept inside what
 * covers the page, and states said to assistive technology.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { LABELS, createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

/** Posts `count` messages into `room` as someone else (each arrives as one wire row or more). */
async function postMany(base: string, room: string, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const res = await fetch(`${base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `filler ${i}`, name: 'Bot', member: 'bot' }) });
    assert.ok(res.ok, `POST message: ${res.status}`);
  }
}

/** Where the focus is in the wire grid: on a cell (its row's index, its index in the row, its class), or a description of what else has it. */
interface GridFocus {
  row: number;
  cell: number;
  column: string;
}
function focusedCell(page: Page): Promise<GridFocus | string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const grid = document.querySelector('[role="grid"]');
    const row = el?.parentElement;
    if (el && grid && row?.parentElement === grid && el.getAttribute('role') === 'gridcell' && row.getAttribute('role') === 'row') {
      const cells = [...row.children].filter((c) => c.getAttribute('role') === 'gridcell');
      return { row: [...grid.children].indexOf(row), cell: cells.indexOf(el), column: el.className };
    }
    return el ? `${el.tagName.toLowerCase()}.${el.className}${el.getAttribute('role') ? ` [role=${el.getAttribute('role')}]` : ''}${el.getAttribute('aria-label') ? ` "${el.getAttribute('aria-label')}"` : ''}` : 'nothing';
  });
}

/** The cells of row `row` of the wire grid, by class (a note's one cell has none). */
function rowCells(page: Page, row: number): Promise<string[]> {
  return page.evaluate((i) => [...document.querySelector('[role="grid"]')!.children[i]!.children].filter((c) => c.getAttribute('role') === 'gridcell').map((c) => c.className), row);
}

/** Presses Tab until the element matching `selector` has the focus (at most `max` times). */
async function tabTo(page: Page, selector: string, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return;
  }
  assert.fail(`${max} Tabs did not reach ${selector}`);
}

/** Relative luminance (WCAG) of an sRGB colour given as 0..255 channels. */
function luminance(rgb: number[]): number {
  const [r, g, b] = rgb.map((v) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/**
 * The focus ring of the focused element, drawn on it or on its parent (the search box and the
 * message box draw theirs on the field around them): the widest outline or outer box-shadow that
 * contrasts 3:1 or more with the background behind it (its colour laid over that background
 * first, so a faint glow counts as faint). `found` lists every ring seen.
 */
async function focusRing(page: Page): Promise<{ width: number; found: string[] }> {
  // The page reads the styles and turns every colour into [r, g, b, a] (its canvas parses what
  // getComputedStyle writes, color-mix() results included).
  const drawn = await page.evaluate(() => {
    const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true })!;
    const focused = document.activeElement!;
    return [focused, focused.parentElement!].map((el) => {
      const style = getComputedStyle(el);
      let bg = getComputedStyle(document.documentElement).backgroundColor;
      for (let at = el.parentElement; at; at = at.parentElement) {
        const color = getComputedStyle(at).backgroundColor;
        if (!/^rgba\(.*, 0\)$|^transparent$/.test(color)) {
          bg = color;
          break;
        }
      }
      const shadows = style.boxShadow === 'none' ? [] : style.boxShadow.split(/,(?![^(]*\))/).map((shadow) => shadow.trim());
      const colors = [style.outlineColor, bg, ...shadows.map((shadow) => /^(?:rgba?|color)\([^)]*\)/.exec(shadow)?.[0] ?? 'transparent')].map((color) => {
        ctx.clearRect(0, 0, 1, 1);
        ctx.fillStyle = color;
        ctx.fillRect(0, 0, 1, 1);
        return [...ctx.getImageData(0, 0, 1, 1).data];
      });
      return { name: el.className, outline: style.outlineStyle === 'none' ? 0 : parseFloat(style.outlineWidth), shadows, colors };
    });
  });
  let width = 0;
  const found: string[] = [];
  for (const { name, outline, shadows, colors } of drawn) {
    const [outlineColor, bg, ...shadowColors] = colors as [number[], number[], ...number[][]];
    const rings = [{ what: 'outline', width: outline, color: outlineColor }];
    shadows.forEach((shadow, i) => {
      const [x, y, , spread] = [...shadow.replace(/^(?:rgba?|color)\([^)]*\)/, '').matchAll(/(-?[\d.]+)px/g)].map((m) => parseFloat(m[1]!));
      if (!shadow.includes('inset') && x === 0 && y === 0) rings.push({ what: 'box-shadow', width: spread ?? 0, color: shadowColors[i]! });
    });
    for (const ring of rings.filter((r) => r.width > 0)) {
      const alpha = ring.color[3]! / 255;
      const shown = ring.color.slice(0, 3).map((v, i) => v * alpha + bg[i]! * (1 - alpha));
      const [hi, lo] = [luminance(shown), luminance(bg)].sort((a, b) => b - a);
      const contrast = (hi! + 0.05) / (lo! + 0.05);
      found.push(`.${name.split(' ')[0]} ${ring.what} ${ring.width} px, ${contrast.toFixed(2)}:1`);
      if (contrast >= 3) width = Math.max(width, ring.width);
    }
  }
  return { width, found };
}

describe('web app: keyboard and screen readers', { skip }, () => {
  const s = useHarness({ rateLimitPerSecond: 1000, rateLimitBurst: 1000 });

  it('the wire inspector is a grid of cells with one Tab stop: arrows move between cells and rows, Home/End within a row, Ctrl+Home/End to its ends, Enter opens a row from any cell, and focus keeps to its cell as rows come and go', async () => {
    const room = 'keys-wire';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Tabitha', hash: `#/room/${room}`, transport: 'websocket' });
    const panel = page.getByRole('region', { name: 'Wire inspector' });
    await postMany(s.h.base, room, 30);
    const grid = panel.getByRole('grid', { name: 'Wire events, oldest first' });
    await page.waitForFunction(() => document.querySelectorAll('.wire-list > li').length >= 30);
    // Read receipts and their answers follow the messages: wait until no row came for 600 ms.
    await page.waitForFunction(() => new Promise<boolean>((resolve) => {
      const before = document.querySelectorAll('.wire-list > li').length;
      setTimeout(() => resolve(document.querySelectorAll('.wire-list > li').length === before), 600);
    }));
    const at = (row: number, cell: number, column: string): GridFocus => ({ row, cell, column });

    // One Tab stop, on a cell: from Clear, Tab lands on the newest row's first cell, and the
    // next Tab leaves the grid; no row is focusable. (Heartbeats add rows now and then: the
    // row the focus is on keeps its index, the newest changes.)
    await panel.getByRole('button', { name: 'Clear' }).focus();
    // Rows counted on both sides of the Tab: one that comes meanwhile becomes the newest, the focus staying where it landed.
    const rowsBefore = await grid.getByRole('row').count();
    await page.keyboard.press('Tab');
    const landed = await focusedCell(page);
    const rowsAfter = await grid.getByRole('row').count();
    const newest = typeof landed === 'string' ? -1 : landed.row;
    assert.ok(newest >= rowsBefore - 1 && newest <= rowsAfter - 1, `Tab from Clear lands on the newest row (row ${newest}; ${rowsBefore} rows before the Tab, ${rowsAfter} after)`);
    assert.deepEqual(landed, at(newest, 0, 'w-time'), 'Tab from Clear lands on the first cell of the newest row');
    await page.keyboard.press('Tab');
    const after = await focusedCell(page);
    assert.equal(typeof after, 'string', `a second Tab leaves the grid (focus on ${JSON.stringify(after)})`);
    await page.keyboard.press('Shift+Tab');
    assert.deepEqual(await focusedCell(page), at(newest, 0, 'w-time'), 'Shift+Tab comes back to the same cell');
    assert.equal(await grid.locator('[tabindex="0"]').count(), 1, 'one Tab stop in the grid');
    assert.equal(await grid.locator('[role="row"][tabindex]').count(), 0, 'rows are not focusable');

    // The ring every control has (2 px, contrasting), on the cell.
    const ring = await focusRing(page);
    assert.ok(ring.width >= 2, `a focused cell shows a ring of 2 px or more (found: ${ring.found.join('; ') || 'none'})`);

    // Left and Right within the row, stopping at its ends; Home and End to its first and last cell.
    const cells = await rowCells(page, newest);
    await page.keyboard.press('ArrowLeft');
    assert.deepEqual(await focusedCell(page), at(newest, 0, 'w-time'), 'ArrowLeft on the first cell stays there');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await focusedCell(page), at(newest, 2, 'w-kind'));
    await page.keyboard.press('ArrowLeft');
    assert.deepEqual(await focusedCell(page), at(newest, 1, 'w-dir'));
    await page.keyboard.press('End');
    assert.deepEqual(await focusedCell(page), at(newest, cells.length - 1, cells.at(-1)!), 'End: the last cell of the row');
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await focusedCell(page), at(newest, cells.length - 1, cells.at(-1)!), 'ArrowRight on the last cell stays there');
    await page.keyboard.press('Home');
    assert.deepEqual(await focusedCell(page), at(newest, 0, 'w-time'), 'Home: the first cell of the row');

    // Up and Down between rows, in the same column.
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    assert.deepEqual(await focusedCell(page), at(newest - 2, 2, 'w-kind'));
    await page.keyboard.press('ArrowDown');
    assert.deepEqual(await focusedCell(page), at(newest - 1, 2, 'w-kind'));

    // Ctrl+Home and Ctrl+End: the first cell of the grid (its first row is the note "Joining
    // #keys-wire…", of one cell) and the last.
    await page.keyboard.press('Control+Home');
    assert.deepEqual(await focusedCell(page), at(0, 0, ''));
    await page.keyboard.press('ArrowUp');
    assert.deepEqual(await focusedCell(page), at(0, 0, ''), 'ArrowUp on the first row stays there');
    // Rows keep coming (the page's own requests and frames): Ctrl+End is checked on a grid that did
    // not grow while the key was pressed, pressed again if it did.
    let last = -1;
    for (let tries = 0; tries < 5; tries++) {
      const before = await grid.getByRole('row').count();
      await page.keyboard.press('Control+End');
      last = (await grid.getByRole('row').count()) - 1;
      if (last === before - 1) break;
    }
    const lastCells = await rowCells(page, last);
    assert.deepEqual(await focusedCell(page), at(last, lastCells.length - 1, lastCells.at(-1)!), 'Ctrl+End: the last cell of the last row');
    assert.equal(await grid.locator('[tabindex="0"]').count(), 1, 'still one Tab stop');

    // Enter (and Space) on any cell of a row that opens: the exchange opens as a cell of its
    // own, last in the row; closed from there, the focus stays in the row.
    const openable = grid.locator('.wire-row.openable').first();
    const index = await openable.evaluate((li) => [...li.parentElement!.children].indexOf(li));
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < index; i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await focusedCell(page), at(index, 2, 'w-kind'));
    await page.keyboard.press('Enter');
    assert.equal(await openable.getAttribute('aria-expanded'), 'true');
    assert.equal(await openable.locator('.w-detail[role="gridcell"]').count(), 1);
    assert.deepEqual(await focusedCell(page), at(index, 2, 'w-kind'), 'the focus stays on its cell');
    await page.keyboard.press('End');
    const opened = await rowCells(page, index);
    assert.deepEqual(await focusedCell(page), at(index, opened.length - 1, 'w-detail'), 'End: the opened exchange');
    await page.keyboard.press(' ');
    assert.equal(await openable.getAttribute('aria-expanded'), 'false');
    assert.equal(await openable.locator('.w-detail').count(), 0);
    assert.deepEqual(await focusedCell(page), at(index, opened.length - 2, opened.at(-2)!), 'closed from its cell: the focus on the cell before');
    await page.keyboard.press('Enter');
    assert.equal(await openable.getAttribute('aria-expanded'), 'true');
    await page.keyboard.press('Enter');
    assert.equal(await openable.getAttribute('aria-expanded'), 'false');

    // New rows: the focus stays on its cell. Old rows dropped (200 are kept): the focus moves
    // to the oldest row kept, in the same column, not to nowhere.
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await focusedCell(page), at(1, 1, 'w-dir'));
    await grid.getByRole('row').nth(1).evaluate((li) => li.setAttribute('data-probe', 'second'));
    await postMany(s.h.base, room, 10, 30);
    await page.waitForFunction((n) => document.querySelectorAll('.wire-list > li').length >= n + 10, rowsAfter);
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).parentElement!.dataset.probe), 'second', 'focus stays on its row');
    assert.deepEqual(await focusedCell(page), at(1, 1, 'w-dir'), 'and on its cell');
    await postMany(s.h.base, room, 200, 40);
    await page.waitForFunction(() => document.querySelector('.wire-list > li[data-probe]') === null && document.querySelectorAll('.wire-list > li').length === 200);
    await page.waitForTimeout(100);
    assert.deepEqual(await focusedCell(page), at(0, 1, 'w-dir'), 'the oldest row kept has the focus, in the same column');
    assert.equal(await grid.locator('[tabindex="0"]').count(), 1, 'one Tab stop after rows were dropped');
    await page.screenshot({ path: '/tmp/e2e-wire-keyboard.png' });
  });

  it('the search box and the message box show the focus ring every control has (2 px, contrasting), in light and dark', async () => {
    const room = 'keys-rings';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Rita', hash: `#/room/${room}` });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      // The control after the search box: the ring every other control has, to measure the fields against.
      await page.locator('#search-input').focus();
      await tabTo(page, '.wire-toggle');
      const button = await focusRing(page);
      assert.ok(button.width >= 2, `${colorScheme}: a button's ring: ${button.found.join('; ')}`);
      for (const field of ['#search-input', '#message-input']) {
        await page.locator('.skip-link').focus();
        await tabTo(page, field);
        await page.screenshot({ path: `/tmp/e2e-focus-${field.slice(1)}-${colorScheme}.png` });
        const ring = await focusRing(page);
        assert.ok(ring.width >= button.width, `${colorScheme}: ${field} shows a ring of ${button.width} px or more, contrasting 3:1 or more with what is behind it (found: ${ring.found.join('; ') || 'none'})`);
      }
    }
  });

  it('each Compare pane says its state in a polite live region, named after its transport, and not again for every message', async () => {
    const room = 'keys-compare-status';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Cora', hash: `#/room/${room}`, localStorage: { 'switchboard.member': 'cora' } });
    // Every change inside the panes' live regions, from before the panes exist.
    await page.evaluate(() => {
      const log: Array<{ transport: string; text: string }> = [];
      (window as unknown as { statusLog: typeof log }).statusLog = log;
      new MutationObserver((records) => {
        for (const record of records) {
          const target = record.target instanceof Element ? record.target : record.target.parentElement;
          const region = target?.closest('section.pane [role="status"], section.pane [aria-live="polite"]');
          if (region) log.push({ transport: region.closest('section.pane')!.getAttribute('data-transport')!, text: region.textContent!.trim() });
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Compare' }).click();
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    const log = (): Promise<Array<{ transport: string; text: string }>> => page.evaluate(() => (window as unknown as { statusLog: Array<{ transport: string; text: string }> }).statusLog);

    for (const [transport, label] of Object.entries(LABELS)) {
      const status = page.locator(`section.pane[data-transport="${transport}"]`).getByRole('status');
      assert.equal(await status.count(), 1, `${label}: one status region`);
      assert.match((await status.textContent())!, new RegExp(`^${label}: Connected`), `${label}: the region names its pane`);
      const said = (await log()).filter((e) => e.transport === transport).map((e) => e.text);
      assert.ok(said.some((text) => text.startsWith(`${label}: Connected`)), `${label}: the region changed to Connected (heard: ${said.join(' | ')})`);
    }
    await page.screenshot({ path: '/tmp/e2e-compare-status.png' });

    // A message arriving in every pane leaves the regions alone (the counters and the list of
    // arrivals are outside them).
    const before = (await log()).length;
    await send(page, 'not a status');
    await page.locator('section.pane .arrivals li', { hasText: 'not a status' }).nth(3).waitFor();
    await page.waitForTimeout(1100);
    assert.deepEqual((await log()).slice(before), [], 'no status announced for a message');

    // The server ends the WebSocket pane's connection: its region says so.
    await s.h.server.disconnect('cora-cmp-websocket');
    const ws = page.locator('section.pane[data-transport="websocket"]');
    await page.waitForFunction(() => document.querySelector('section.pane[data-transport="websocket"]')!.getAttribute('data-status') !== 'connected');
    const now = (await ws.getByRole('status').textContent())!;
    assert.doesNotMatch(now, /Connected/, `the region no longer says connected: ${now}`);
    assert.ok((await log()).slice(before).some((e) => e.transport === 'websocket' && e.text === now), 'the change was made inside the region');
    await page.screenshot({ path: '/tmp/e2e-compare-status-kicked.png' });
  });

  it('the wire inspector\'s Pause is a button that says what it does, not a toggle that reads "Resume, pressed"', async () => {
    const room = 'keys-pause';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Paula', hash: `#/room/${room}` });
    const panel = page.getByRole('region', { name: 'Wire inspector' });
    const pause = panel.getByRole('button', { name: 'Pause' });
    assert.equal(await pause.getAttribute('aria-pressed'), null);
    await pause.click();
    const resume = panel.getByRole('button', { name: 'Resume' });
    await resume.waitFor();
    assert.equal(await resume.getAttribute('aria-pressed'), null, 'its name changes with the state: it is no toggle too');
    await resume.click();
    await pause.waitFor();
  });

  it('the wire inspector\'s paused count is a polite status: said when the pause begins, then at most every 5 s while it grows, the last count included', async () => {
    const room = 'keys-held';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Hedda', hash: `#/room/${room}`, transport: 'websocket' });
    const panel = page.getByRole('region', { name: 'Wire inspector' });
    // The status is there (empty) before the pause: a live region added with its text is often not read.
    const status = panel.getByRole('status');
    assert.equal(await status.count(), 1, 'one status in the wire inspector');
    assert.equal(await status.getAttribute('aria-live'), 'polite');
    assert.equal((await status.textContent())!.trim(), '', 'nothing said before the pause');
    // Every write of the status, with its time.
    await status.evaluate((region) => {
      const log: Array<{ at: number; text: string }> = [];
      (window as unknown as { heldLog: typeof log }).heldLog = log;
      new MutationObserver(() => log.push({ at: performance.now(), text: region.textContent!.trim() })).observe(region, { subtree: true, childList: true, characterData: true });
    });
    const log = (): Promise<Array<{ at: number; text: string }>> => page.evaluate(() => (window as unknown as { heldLog: Array<{ at: number; text: string }> }).heldLog);

    await panel.getByRole('button', { name: 'Pause' }).click();
    await page.waitForFunction(() => (window as unknown as { heldLog: unknown[] }).heldLog.length > 0, undefined, { timeout: 1000 });
    assert.match((await status.textContent())!, /^Paused: 0 new events held \(the last 200 are kept\)\.$/, 'said as the pause begins');

    // 30 messages, one every 150 ms or more, over 7 s at least: the line seen counts each
    // event, the status does not. (Counted in messages, not in time: a slow machine posts fewer
    // in 7 s, and CI once saw only 16.)
    const shown = new Set<string>();
    const started = Date.now();
    for (let i = 0; i < 30 || Date.now() - started < 7000; i++) {
      await postMany(s.h.base, room, 1, i);
      shown.add((await panel.locator('.wire-held').textContent()) ?? '');
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.ok(shown.size > 20, `the line seen counts as events come (${shown.size} counts seen)`);
    // The last count is said too, within 5 s of the last event. Events of the connection's own
    // may come after the last message (CI once saw the line at 100 and the status at 99 5.5 s
    // after it): the status must catch up with the line, within 5 s of whatever came last.
    let lastLine = '';
    let changedAt = Date.now();
    for (;;) {
      const line = (await panel.locator('.wire-held').textContent()) ?? '';
      const said = (await status.textContent()) ?? '';
      if (line !== lastLine) [lastLine, changedAt] = [line, Date.now()];
      if (said === line) break;
      assert.ok(Date.now() - changedAt < 5500, `the last count said within 5 s: the line says ${JSON.stringify(line)}, the status ${JSON.stringify(said)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const said = await log();
    const elapsed = Date.now() - started;
    console.log(`paused count said: ${JSON.stringify(said.map((e) => e.text))} in ${elapsed} ms`);
    // Once as the pause begins, then at most once per 5 s (the gaps are checked below).
    const most = 1 + Math.ceil(elapsed / 5000);
    assert.ok(said.length >= 2 && said.length <= most, `said ${said.length} times in ${elapsed} ms, at most ${most} (${said.map((e) => e.text).join(' | ')})`);
    for (let i = 1; i < said.length; i++) assert.ok(said[i]!.at - said[i - 1]!.at >= 4900, `said twice within ${Math.round(said[i]!.at - said[i - 1]!.at)} ms`);
    assert.match((await status.textContent())!, /^Paused: [1-9]\d* new events held/);

    // Resume: the status is emptied (nothing left to say), the line goes.
    await panel.getByRole('button', { name: 'Resume' }).click();
    assert.equal((await status.textContent())!.trim(), '');
    assert.equal(await panel.locator('.wire-held').isVisible(), false);
  });

  it('the sidebar on a phone and the wire inspector below 1200 px lie over the page: Tab stays in them, the rest is inert, and closing gives the focus back to the toggle', async () => {
    const room = 'keys-overlay';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Olive', hash: `#/room/${room}`, viewport: { width: 390, height: 760 } });
    /**
     * Presses Tab (or Shift+Tab) `times` times; says where the focus went outside `inside`
     * (past the last element it goes to the browser's own controls, the body here, as from a
     * modal <dialog>: not to the page).
     */
    const tabAround = async (inside: string, times: number, key = 'Tab'): Promise<string[]> => {
      const outside: string[] = [];
      for (let i = 0; i < times; i++) {
        await page.keyboard.press(key);
        const where = await page.evaluate((sel) => {
          const el = document.activeElement as HTMLElement;
          return document.querySelector(sel)!.contains(el) || el === document.body ? '' : `${el.tagName.toLowerCase()}.${el.className} ${el.getAttribute('aria-label') ?? el.textContent?.slice(0, 20)}`;
        }, inside);
        if (where) outside.push(where);
      }
      return outside;
    };
    const wireToggle = page.getByRole('button', { name: 'Wire inspector' });
    const sidebarToggle = page.getByRole('button', { name: 'Rooms and people' });

    await wireToggle.click();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Close wire inspector');
    assert.deepEqual(await tabAround('#wire-panel', 8), [], 'Tab went out of the wire inspector');
    assert.deepEqual(await tabAround('#wire-panel', 8, 'Shift+Tab'), [], 'Shift+Tab went out of the wire inspector');
    assert.equal(await page.locator('main.chat-main').evaluate((el) => el.closest('[inert]') !== null), true, 'the conversation is inert');
    await page.screenshot({ path: '/tmp/e2e-wire-overlay-phone.png' });
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Wire inspector', 'focus back on the toggle');
    assert.equal(await page.locator('[inert]').count(), 0, 'nothing inert once closed');

    // The sidebar; a click on the scrim (over the header too) closes it.
    await sidebarToggle.click();
    assert.deepEqual(await tabAround('#chat-sidebar', 10), [], 'Tab went out of the sidebar');
    assert.equal(await page.locator('.app-header').evaluate((el) => el.closest('[inert]') !== null), true, 'the header is inert');
    await page.screenshot({ path: '/tmp/e2e-sidebar-overlay-phone.png' });
    await page.mouse.click(370, 20);
    assert.equal(await page.locator('.chat-layout.sidebar-open').count(), 0, 'a click on the scrim closes the sidebar');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Rooms and people', 'focus back on the toggle');
    assert.equal(await page.locator('[inert]').count(), 0);

    // At 1000 px the wire inspector lies over the conversation; at 1300 px it is a column beside
    // it, and nothing is inert.
    await page.setViewportSize({ width: 1000, height: 760 });
    await wireToggle.click();
    assert.deepEqual(await tabAround('#wire-panel', 6), [], 'Tab went out of the wire inspector at 1000 px');
    await page.setViewportSize({ width: 1300, height: 760 });
    await page.waitForFunction(() => document.querySelector('[inert]') === null);
    await page.getByLabel('Message', { exact: true }).focus();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message-input');
  });
});

describe('web app: search on a phone', { skip }, () => {
  const s = useHarness();

  it('the search results cover the conversation on a phone: Tab goes from the search box to the results, not through the hidden messages', async () => {
    const room = 'keys-search';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Sam', hash: `#/room/${room}`, viewport: { width: 390, height: 760 } });
    for (const text of ['needle one', 'needle two']) {
      await send(page, text);
      await waitForMessage(page, text);
    }
    const search = page.getByRole('searchbox', { name: 'Search messages' });
    await search.fill('needle');
    await search.press('Enter');
    const results = page.getByRole('list', { name: 'Search results' }).getByRole('button');
    await results.nth(1).waitFor();
    await search.focus();
    const stops: string[] = [];
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      stops.push(await page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        return `${el.closest('.conversation') ? 'HIDDEN ' : ''}${el.tagName.toLowerCase()}.${el.className.split(' ')[0]} ${el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 20)}`;
      }));
    }
    assert.deepEqual(stops.filter((stop) => stop.startsWith('HIDDEN')), [], `Tab stops: ${stops.join(' | ')}`);
    assert.ok(stops.some((stop) => stop.includes('needle')), `a result is reached: ${stops.join(' | ')}`);
    // A result picked: the panel steps aside and the conversation is usable again.
    await results.first().click();
    await page.locator('li.msg.highlight').waitFor();
    assert.equal(await page.locator('[inert]').count(), 0);
    await page.getByRole('log').focus();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'log');
  });
});

describe('web app: Compare shows a message the server holds back', { skip }, () => {
  // One publish a second: the second and third of three sent at once are refused RATE_LIMITED
  // for a while, and the SDK sends them again after the server's Retry-After.
  const s = useHarness({ rateLimitPerSecond: 1, rateLimitBurst: 1 });

  it('a message refused for a while (RATE_LIMITED) shows as being sent, in a polite live region, until it arrives', async () => {
    const { page } = await s.open({ name: 'Rae', hash: '#/compare' });
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    const pending = page.getByRole('list', { name: 'Messages being sent' });
    assert.equal(await pending.getAttribute('aria-live'), 'polite');
    // Sent in one turn of the page, as Enter pressed three times in a row: typed by the test one
    // after the other, a busy machine (CPU burners beside a full run) took a second over them and
    // the server's bucket had room again for the third.
    await page.getByLabel('Message', { exact: true }).evaluate((box, texts) => {
      for (const text of texts) {
        (box as HTMLTextAreaElement).value = text;
        box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
      }
    }, ['held one', 'held two', 'held three']);
    await pending.getByText('Sending “held three”…').waitFor({ timeout: 3000 });
    await page.screenshot({ path: '/tmp/e2e-compare-pending.png' });
    for (const text of ['held one', 'held two', 'held three']) await page.locator('section.pane[data-transport="polling"] .arrivals li', { hasText: text }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => document.querySelectorAll('.compare-pending li').length === 0);
    assert.equal(await page.getByRole('alert').filter({ hasText: 'Not sent' }).count(), 0, 'nothing was refused for good');
  });
});
