import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { mintToken } from '../../src/server/auth/mint-token.js';
import { createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();
const SHOTS = '/tmp/shots';

/** The stored message whose text contains `text` (tombstones have the text "Message deleted"). */
function message(page: Page, text: string): Locator {
  return page.locator('ol.entries:not(.pending-entries) > li.msg').filter({ has: page.locator('.text', { hasText: text }) });
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

/** Publishes straight into the hub (no rate limit), as `name`. */
function seeder(server: { hub: { publish(draft: unknown): Promise<unknown> } }, room: string, name: string) {
  const member = name.toLowerCase();
  return (text: string) => server.hub.publish({ type: 'message', room, from: { id: `seed-${member}`, name, member }, text });
}

describe('web app: edits, deletes, reactions, replies, receipts, unread counts, search', { skip }, () => {
  const s = useHarness();

  it('two people (WebSocket and long polling) edit, react, reply and delete, and a late joiner sees the same', async () => {
    const room = 'features';
    await createRoom(s.h, room);
    const a = await s.open({ name: 'Ann', transport: 'websocket', hash: `#/room/${room}` });
    const b = await s.open({ name: 'Bob', transport: 'long-polling', pollIntervalMs: 250, hash: `#/room/${room}` });

    await send(a.page, 'hello from ann');
    await waitForMessage(b.page, 'hello from ann');

    // Edit inline: Escape cancels, Enter saves; both sides show the new text and "(edited)".
    const mine = message(a.page, 'hello from ann');
    await mine.getByRole('button', { name: 'Edit', exact: true }).click();
    const box = a.page.getByRole('textbox', { name: 'Edit message' });
    await box.fill('never saved');
    await box.press('Escape');
    assert.equal(await box.count(), 0, 'Escape closes the editor');
    assert.equal(await message(a.page, 'hello from ann').locator('.text').textContent(), 'hello from ann');
    await message(a.page, 'hello from ann').getByRole('button', { name: 'Edit', exact: true }).click();
    await box.fill('hello from ann, edited');
    await shot(a.page, 'edit-inline');
    await box.press('Enter');
    for (const { page } of [a, b]) {
      const edited = message(page, 'hello from ann, edited');
      await edited.locator('.edited', { hasText: '(edited)' }).waitFor();
      assert.match((await edited.locator('.edited').getAttribute('title')) ?? '', /^Edited /);
    }
    // Only the author (or an admin) may edit or delete.
    const onB = message(b.page, 'hello from ann, edited');
    assert.equal(await onB.getByRole('button', { name: 'Edit', exact: true }).count(), 0);
    assert.equal(await onB.getByRole('button', { name: 'Delete', exact: true }).count(), 0);

    // React: Bob picks 👍, Ann adds hers by the chip; counts and aria-pressed on both sides.
    await onB.getByRole('button', { name: 'React', exact: true }).click();
    await b.page.getByRole('group', { name: 'Pick a reaction' }).waitFor();
    await shot(b.page, 'reaction-picker');
    await b.page.getByRole('button', { name: '👍 thumbs up' }).click();
    for (const { page } of [a, b]) await message(page, 'hello from ann, edited').locator('.reaction-chip[data-emoji="👍"]', { hasText: '1' }).waitFor();
    const chipA = message(a.page, 'hello from ann, edited').locator('.reaction-chip[data-emoji="👍"]');
    const chipB = message(b.page, 'hello from ann, edited').locator('.reaction-chip[data-emoji="👍"]');
    assert.equal(await chipA.getAttribute('aria-pressed'), 'false');
    assert.equal(await chipB.getAttribute('aria-pressed'), 'true');
    await chipA.click();
    for (const chip of [chipA, chipB]) await chip.filter({ hasText: '2' }).waitFor();
    assert.equal(await chipA.getAttribute('aria-pressed'), 'true');
    assert.equal(await chipB.getAttribute('title'), '👍 2: you, Ann');
    assert.equal(await chipA.getAttribute('title'), '👍 2: Bob, you');
    // Bob takes his back.
    await chipB.click();
    for (const chip of [chipA, chipB]) await chip.filter({ hasText: '1' }).waitFor();
    assert.equal(await chipB.getAttribute('aria-pressed'), 'false');

    // Reply: the bar above the box, then the quote on both sides; the quote shows the original.
    await onB.getByRole('button', { name: 'Reply', exact: true }).click();
    await b.page.locator('.reply-bar', { hasText: 'Replying to Ann: hello from ann, edited' }).waitFor();
    await shot(b.page, 'reply-bar');
    await send(b.page, 'a reply from bob');
    assert.equal(await b.page.locator('.reply-bar').isVisible(), false, 'the bar goes once sent');
    for (const { page } of [a, b]) {
      await waitForMessage(page, 'a reply from bob');
      const quote = message(page, 'a reply from bob').locator('.quote');
      await quote.filter({ hasText: 'hello from ann, edited' }).waitFor();
      assert.equal(await quote.locator('.quote-name').textContent(), 'Ann');
    }
    await message(a.page, 'a reply from bob').locator('.quote').click();
    await a.page.locator('li.msg.highlight .text', { hasText: 'hello from ann, edited' }).waitFor();
    await shot(a.page, 'features-both');

    // Delete: a dialog first; Cancel keeps it, Delete makes a tombstone on both sides, and the quote says so.
    await message(a.page, 'hello from ann, edited').getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = a.page.getByRole('dialog', { name: 'Delete message?' });
    await dialog.waitFor();
    await shot(a.page, 'delete-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await message(a.page, 'hello from ann, edited').count(), 1);
    await message(a.page, 'hello from ann, edited').getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    for (const { page } of [a, b]) {
      await page.locator('li.msg.deleted .text', { hasText: 'Message deleted' }).waitFor();
      assert.equal(await page.locator('.messages').getByText('hello from ann, edited').count(), 0, 'no trace of the text');
      await message(page, 'a reply from bob').locator('.quote', { hasText: 'Original message deleted' }).waitFor();
      assert.equal(await page.locator('li.msg.deleted .reaction-chip').count(), 0);
      assert.equal(await page.locator('li.msg.deleted').getByRole('button', { name: 'Edit', exact: true }).count(), 0);
    }
    await shot(b.page, 'deleted-tombstone');

    // A late joiner (short polling) sees the folded log: two lines, no amendment of its own.
    const c = await s.open({ name: 'Cid', transport: 'polling', pollIntervalMs: 250, hash: `#/room/${room}` });
    await waitForMessage(c.page, 'a reply from bob');
    await c.page.locator('li.msg.deleted .text', { hasText: 'Message deleted' }).waitFor();
    assert.equal(await c.page.locator('ol.entries:not(.pending-entries) > li.msg').count(), 2);
    await message(c.page, 'a reply from bob').locator('.quote', { hasText: 'Original message deleted' }).waitFor();
    // An edit made now reaches every transport live.
    await message(b.page, 'a reply from bob').getByRole('button', { name: 'Edit', exact: true }).click();
    await b.page.getByRole('textbox', { name: 'Edit message' }).fill('bob, edited live');
    await b.page.getByRole('button', { name: 'Save' }).click();
    for (const { page } of [a, b, c]) await message(page, 'bob, edited live').locator('.edited').waitFor();
    assert.equal(await c.page.locator('ol.entries:not(.pending-entries) > li').filter({ hasNotText: 'joined' }).count(), 2, 'no line of its own for an amendment');
    for (const app of [a, b, c]) await app.context.close();
  });

  it('unread counts and mentions come from the server; "Seen by" shows once the other read', async () => {
    const room = 'receipts';
    await createRoom(s.h, room);
    await createRoom(s.h, 'elsewhere');
    const a = await s.open({ name: 'Ann', transport: 'websocket', hash: `#/room/${room}` });
    const b = await s.open({ name: 'Bob', transport: 'long-polling', pollIntervalMs: 250, hash: '#/room/elsewhere' });
    const reads: string[] = [];
    const histories: string[] = [];
    b.page.on('request', (req) => {
      const url = new URL(req.url());
      if (url.pathname === '/api/read') reads.push(url.searchParams.get('rooms') ?? '');
      if (req.method() === 'GET' && /^\/api\/rooms\/[^/]+\/messages$/.test(url.pathname)) histories.push(url.pathname);
    });
    await send(a.page, 'first, for everyone');
    await send(a.page, 'hey @Bob, look');
    await send(a.page, 'and @bobby is someone else');
    // Bob's room list (refreshed every 5 s) shows 3 unread, 1 mention.
    const button = b.page.getByRole('button', { name: new RegExp(`^${room}, 3 unread, 1 mention(, 1 here)?$`) });
    await button.waitFor({ timeout: 15_000 });
    assert.equal(await button.locator('.mention-badge').textContent(), '@1');
    assert.equal(await button.locator('.badge:not(.mention-badge)').textContent(), '3');
    await shot(b.page, 'room-list-unread');
    // One request for all the rooms listed (not one per room).
    assert.ok(reads.length > 0 && reads.every((rooms) => rooms.split(',').includes(room) && rooms.split(',').includes('lobby')), `requests: ${reads.join(' ')}`);
    assert.deepEqual(histories.filter((p) => p !== '/api/rooms/elsewhere/messages'), [], 'no history request to count unread');

    // Ann's mention of Bob is highlighted for Bob (stronger than a mention of someone else).
    await button.click();
    await waitForMessage(b.page, 'hey @Bob, look');
    assert.equal(await message(b.page, 'hey @Bob').locator('.mention.me').textContent(), '@Bob');
    assert.equal(await message(b.page, 'bobby').locator('.mention.me').count(), 0);
    // Bob read it: Ann (WebSocket, receipt notices) sees "Seen by Bob" under the newest message.
    await message(a.page, 'bobby').locator('.seen-by', { hasText: 'Seen by Bob' }).waitFor();
    assert.equal(await a.page.locator('.seen-by').count(), 1);
    await shot(a.page, 'seen-by');
    // And back: Bob writes, Ann reads (she is on it); Bob (long polling) learns from GET .../read.
    await send(b.page, 'read you, Ann');
    await message(b.page, 'read you, Ann').locator('.seen-by', { hasText: 'Seen by Ann' }).waitFor({ timeout: 15_000 });
    // The room is read: no count left once Bob goes elsewhere.
    await b.page.getByRole('button', { name: /^elsewhere/ }).click();
    await b.page.getByRole('button', { name: new RegExp(`^${room}(, \\d+ here)?$`) }).waitFor({ timeout: 15_000 });
    for (const app of [a, b]) await app.context.close();
  });

  it('searches the room, pages the results, and jumps to a message not loaded yet', async () => {
    const room = 'searching';
    await createRoom(s.h, room);
    const say = seeder(s.h.server, room, 'Zoe');
    await say('Our Crème brûlée recipe, finally');
    for (let i = 1; i <= 150; i++) await say(`filler number ${i}`);
    const a = await s.open({ name: 'Ann', transport: 'sse', hash: `#/room/${room}` });
    await waitForMessage(a.page, 'filler number 150');
    assert.equal(await message(a.page, 'brûlée').count(), 0, 'the oldest message is not loaded yet');

    const search = a.page.getByRole('search').getByRole('searchbox', { name: 'Search messages' });
    await search.fill('creme BRU');
    await search.press('Enter');
    const results = a.page.getByRole('list', { name: 'Search results' }).getByRole('button');
    await results.first().waitFor();
    assert.equal(await results.count(), 1);
    assert.deepEqual(await results.first().locator('mark').allTextContents(), ['Crème', 'brû']);
    assert.equal(await results.first().locator('.search-name').textContent(), 'Zoe');
    await shot(a.page, 'search-results');
    await results.first().click();
    const found = message(a.page, 'brûlée');
    await found.and(a.page.locator('.highlight')).waitFor();
    assert.ok(await found.isVisible());
    await shot(a.page, 'search-jump');

    await search.fill('nothing-like-this');
    await search.press('Enter');
    await a.page.getByRole('status').filter({ hasText: 'No results' }).waitFor();

    // Paging: 20 a page, newest first, "More results" for older ones.
    await search.fill('filler');
    await search.press('Enter');
    await results.nth(19).waitFor();
    assert.equal(await results.count(), 20);
    assert.match((await results.first().textContent()) ?? '', /filler number 150/);
    await a.page.getByRole('button', { name: 'More results' }).click();
    await results.nth(39).waitFor();
    assert.match((await results.nth(20).textContent()) ?? '', /filler number 130/);
    await a.page.keyboard.press('Escape');
    assert.equal(await a.page.locator('#search-panel').isVisible(), false);
    await a.context.close();
  });
  it('works by keyboard alone, on a narrow screen, in dark mode', async () => {
    const room = 'keys';
    await createRoom(s.h, room);
    const a = await s.open({ name: 'Kim', viewport: { width: 390, height: 760 }, hash: `#/room/${room}` });
    const { page } = a;
    await page.emulateMedia({ colorScheme: 'dark' });
    await send(page, 'typed, and amended by keys only @Kim');
    await waitForMessage(page, 'typed, and amended by keys only');
    const line = message(page, 'typed, and amended');
    assert.equal(await line.locator('.mention.me').textContent(), '@Kim');
    // React: Enter opens the picker on its first emoji, arrows move, Enter picks, focus comes back.
    await line.getByRole('button', { name: 'React', exact: true }).focus();
    await page.keyboard.press('Enter');
    const picker = page.getByRole('group', { name: 'Pick a reaction' });
    await picker.waitFor();
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.emoji), '👍');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await line.locator('.reaction-chip[data-emoji="❤️"][aria-pressed="true"]').waitFor();
    assert.equal(await picker.isVisible(), false);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'React');
    // Escape closes the picker without a reaction.
    await page.keyboard.press('Enter');
    await picker.waitFor();
    await page.keyboard.press('Escape');
    assert.equal(await picker.isVisible(), false);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'React');
    // Tab reaches Edit; Enter edits; Enter saves.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Edit');
    await page.keyboard.press('Enter');
    await page.keyboard.press('End');
    await page.keyboard.type(' (fixed)');
    await page.keyboard.press('Enter');
    await message(page, '(fixed)').locator('.edited').waitFor();
    // The chip toggles by keyboard too.
    await message(page, '(fixed)').locator('.reaction-chip[data-emoji="❤️"]').focus();
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelectorAll('.reaction-chip').length === 0);
    // Reply by keyboard: Escape in the box drops the reply.
    await message(page, '(fixed)').getByRole('button', { name: 'Reply', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.reply-bar', { hasText: 'Replying to Kim' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'message-input');
    await shot(page, 'narrow-dark-reply');
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('.reply-bar').isVisible(), false);
    const search = page.getByRole('searchbox', { name: 'Search messages' });
    await search.fill('amended');
    await search.press('Enter');
    await page.getByRole('list', { name: 'Search results' }).getByRole('button').first().waitFor();
    await shot(page, 'narrow-dark-search');
    // The panel covers the conversation here: picking a result shows the message instead.
    await page.getByRole('list', { name: 'Search results' }).getByRole('button').first().click();
    await page.locator('li.msg.highlight').waitFor();
    assert.equal(await page.locator('#search-panel').isVisible(), false);
    await a.context.close();
  });

  it('editing the newest message in a short window (1280x800 at 200 % zoom) brings its Save and Cancel into view', async () => {
    const room = 'zoomed';
    await createRoom(s.h, room);
    const { page } = await s.open({ name: 'Zed', viewport: { width: 640, height: 400 }, hash: `#/room/${room}` });
    await send(page, 'edit me at 200 %');
    await waitForMessage(page, 'edit me at 200 %');
    await message(page, 'edit me at 200 %').getByRole('button', { name: 'Edit', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('textbox', { name: 'Edit message' }).waitFor();
    const log = page.getByRole('log', { name: `Conversation in ${room}` });
    const [save, view] = await Promise.all([page.getByRole('button', { name: 'Save' }).boundingBox(), log.boundingBox()]);
    assert.ok(save && view);
    await shot(page, 'zoomed-edit');
    assert.ok(save.y + save.height <= view.y + view.height, `Save (bottom ${save.y + save.height}) is within the conversation (bottom ${view.y + view.height})`);
  });

  it('right-to-left text runs right to left: a message for its sender and its reader, a reply\'s quote, a search result, the message box', async () => {
    const room = 'rtl';
    await createRoom(s.h, room);
    const hebrew = 'שלום לכולם! מה שלומכם היום? 123';
    const a = await s.open({ name: 'Dalia', transport: 'websocket', hash: `#/room/${room}` });
    const b = await s.open({ name: 'Omar', transport: 'sse', hash: `#/room/${room}`, viewport: { width: 390, height: 844 } });
    await send(a.page, hebrew);
    await waitForMessage(b.page, hebrew);
    const direction = (page: Page, selector: string): Promise<string[]> => page.locator(selector).evaluateAll((els) => els.map((e) => getComputedStyle(e).direction));
    for (const page of [a.page, b.page]) assert.deepEqual(await direction(page, 'li.msg .text'), ['rtl']);
    // An English message beside it keeps left to right.
    await send(b.page, 'and this is English');
    await waitForMessage(a.page, 'and this is English');
    assert.deepEqual(await direction(a.page, 'li.msg .text'), ['rtl', 'ltr']);
    await message(b.page, hebrew).getByRole('button', { name: 'Reply', exact: true }).focus();
    await b.page.keyboard.press('Enter');
    await b.page.locator('.reply-bar-quote').waitFor();
    assert.deepEqual(await direction(b.page, '.reply-bar-quote'), ['rtl']);
    await b.page.keyboard.type('תודה');
    assert.deepEqual(await direction(b.page, '#message-input'), ['rtl']);
    await b.page.keyboard.press('Enter');
    await waitForMessage(a.page, 'תודה');
    assert.deepEqual(await direction(a.page, 'li.msg .quote-text'), ['rtl']);
    const search = a.page.getByRole('searchbox', { name: 'Search messages' });
    await search.fill('שלום');
    await search.press('Enter');
    await a.page.getByRole('list', { name: 'Search results' }).getByRole('button').first().waitFor();
    assert.deepEqual(await direction(a.page, '.search-text'), ['rtl']);
    await shot(b.page, 'rtl-390');
  });
});

describe('web app: who may amend what (tokens)', { skip }, () => {
  const SECRET = 'e2e-secret-features-0123456789-0123456789';
  const s = useHarness({ jwtSecret: SECRET });
  const token = (sub: string, name: string, rights: Array<'read' | 'write' | 'create' | 'admin'>) => mintToken(SECRET, { sub, name, rooms: { '*': rights }, ttlSec: 600 });

  it('a room admin edits and deletes anyone\'s message; a reader gets no actions and cannot toggle chips', async () => {
    const room = 'ruled';
    const writer = await token('wes', 'Wes', ['read', 'write', 'create']);
    await fetch(`${s.h.base}/api/rooms/${room}`, { method: 'PUT', headers: { authorization: `Bearer ${writer}` } });
    for (const text of ['written by wes', 'also by wes']) {
      const res = await fetch(`${s.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${writer}` }, body: JSON.stringify({ text }) });
      assert.ok(res.ok, `POST: ${res.status}`);
    }
    const react = await fetch(`${s.h.base}/api/rooms/${room}/messages/2/reactions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${writer}` }, body: JSON.stringify({ emoji: '🎉' }) });
    assert.equal(react.status, 201);

    const admin = await s.open({ localStorage: { 'switchboard.token': await token('ada', 'Ada', ['read', 'write', 'admin']) }, hash: `#/room/${room}` });
    const reader = await s.open({ localStorage: { 'switchboard.token': await token('rey', 'Rey', ['read']) }, hash: `#/room/${room}` });
    await waitForMessage(admin.page, 'written by wes');
    await waitForMessage(reader.page, 'also by wes');

    // The reader: no Reply, React, Edit or Delete (a link to copy only); the chip shows who, but does not toggle.
    assert.deepEqual(await reader.page.locator('.msg-actions button').allTextContents(), ['Copy link', 'Copy link']);
    const chip = message(reader.page, 'also by wes').locator('.reaction-chip');
    assert.equal(await chip.getAttribute('title'), '🎉 1: Wes');
    assert.equal(await chip.isDisabled(), true);

    // The admin: Edit and Delete on Wes's messages.
    await message(admin.page, 'written by wes').getByRole('button', { name: 'Edit', exact: true }).click();
    await admin.page.getByRole('textbox', { name: 'Edit message' }).fill('tidied by an admin');
    await admin.page.getByRole('textbox', { name: 'Edit message' }).press('Enter');
    await message(reader.page, 'tidied by an admin').locator('.edited').waitFor();
    await message(admin.page, 'also by wes').getByRole('button', { name: 'Delete', exact: true }).click();
    await admin.page.getByRole('dialog', { name: 'Delete message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
    await reader.page.locator('li.msg.deleted .text', { hasText: 'Message deleted' }).waitFor();
    assert.equal(await message(reader.page, 'Message deleted').locator('.reaction-chip').count(), 0, 'a tombstone keeps no reactions shown');
    for (const app of [admin, reader]) await app.context.close();
  });
});
