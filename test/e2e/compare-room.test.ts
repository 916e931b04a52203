/**
 * Compare's four clients stay out of the chat's room unless the user chooses it: by default they
 * join a room of their own, and the other people of the chat's room see no member, no join or
 * leave line and no message of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { TRANSPORTS } from '../../src/protocol/types.js';
import { createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

/** What Bob sees of the room: the "Here now" heading, the people listed and every line of the chat. */
async function roomAsSeen(page: Page): Promise<{ hereNow: string; people: string[]; lines: string[] }> {
  return {
    hereNow: ((await page.locator('#presence-title').textContent()) ?? '').trim(),
    people: await page.locator('ul.presence-list .person-name').allTextContents(),
    lines: await page.locator('ol.entries:not(.pending-entries) > li').allTextContents(),
  };
}

async function fourPanesConnected(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4, undefined, { timeout: 15_000 });
}

describe('web app: Compare and the other people of the room', { skip }, () => {
  const s = useHarness();

  it("by default Compare joins a room of its own: the other people of the chat's room see no member, line or message of it; comparing there is a choice the view states", { timeout: 60_000 }, async () => {
    await createRoom(s.h, 'together');
    const ann = await s.open({ name: 'Ann', hash: '#/room/together', viewport: { width: 1400, height: 900 } });
    const bob = await s.open({ name: 'Bob', hash: '#/room/together' });
    await send(ann.page, 'hello Bob');
    await waitForMessage(bob.page, 'hello Bob');
    await bob.page.locator('#presence-title', { hasText: 'Here now (2)' }).waitFor();
    const before = await roomAsSeen(bob.page);

    await ann.page.getByRole('button', { name: 'Compare', exact: true }).click();
    await fourPanesConnected(ann.page);
    await send(ann.page, 'only in the compare room');
    for (const t of TRANSPORTS) await ann.page.locator(`section.pane[data-transport="${t}"] .arrivals li`, { hasText: 'only in the compare room' }).waitFor();
    await ann.page.screenshot({ path: '/tmp/e2e-compare-own-room.png' });

    // Bob's view is what it was (a poll of "Here now" and the join lines have had time to come).
    await bob.page.waitForTimeout(1500);
    assert.deepEqual(await roomAsSeen(bob.page), before, "Bob's member list and chat are unchanged");
    // The four clients are in a room of their own, which the view names, and not in the chat's.
    const presence = async (room: string): Promise<string[]> =>
      ((await (await fetch(`${s.h.base}/api/rooms/${room}/presence`)).json()) as { members: Array<{ name: string }> }).members.map((m) => m.name).sort();
    assert.deepEqual(await presence('together'), ['Ann', 'Bob']);
    const intro = (await ann.page.locator('.compare-intro').textContent()) ?? '';
    const own = /#(compare-[a-z0-9]+)/.exec(intro)?.[1];
    assert.ok(own, `the intro names the room joined: ${intro}`);
    assert.match(intro, /a room of its own/);
    assert.equal(await ann.page.getByRole('radio', { name: /A room of its own/ }).isChecked(), true);
    assert.equal((await presence(own!)).length, 4);
    await ann.page.getByRole('button', { name: 'Chat', exact: true }).click();
    await ann.page.getByLabel('Message', { exact: true }).waitFor();
    await bob.page.waitForTimeout(1000);
    assert.deepEqual(await roomAsSeen(bob.page), before, 'nor a "left" line after Compare');
    // Compare's room is no room to chat in: neither Bob's room list nor Ann's shows it, though the server lists it.
    const listed = async (page: Page): Promise<string[]> => page.locator('ul.room-list li').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.room ?? li.textContent ?? ''));
    assert.ok(((await (await fetch(`${s.h.base}/api/rooms`)).json()) as { rooms: Array<{ name: string }> }).rooms.some((r) => r.name === own), 'the server lists it');
    await bob.page.reload();
    await bob.page.locator('ul.room-list li', { hasText: 'together' }).first().waitFor();
    for (const page of [bob.page, ann.page]) {
      const rooms = await listed(page);
      assert.ok(rooms.some((r) => r.includes('together')), `the room list is drawn: ${rooms.join(', ')}`);
      assert.ok(!rooms.some((r) => r.includes(own!)), `no compare room in ${rooms.join(', ')}`);
    }
    await bob.page.screenshot({ path: '/tmp/e2e-compare-bob-unchanged.png' });

    // Chosen: Compare joins the chat's room, and says that its people see it.
    await ann.page.getByRole('button', { name: 'Compare', exact: true }).click();
    await fourPanesConnected(ann.page);
    await ann.page.getByRole('radio', { name: /This room, #together/ }).check();
    await fourPanesConnected(ann.page);
    await ann.page.locator('.compare-intro', { hasText: '#together, the room you are in' }).waitFor();
    assert.match((await ann.page.locator('.compare-intro').textContent()) ?? '', /Its members see these four clients and what you send here/);
    await bob.page.locator('#presence-title', { hasText: 'Here now (6)' }).waitFor();
    await send(ann.page, 'now in the room');
    await waitForMessage(bob.page, 'now in the room');
    await ann.page.screenshot({ path: '/tmp/e2e-compare-chosen-room.png' });
    await ann.context.close();
    await bob.context.close();
  });
});
