import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createRoom, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage, type AppPage } from './harness.js';

const skip = skipWithoutBrowser();

interface Shown {
  title: string;
  body: string;
  tag: string;
}

/**
 * Keeps what the page's notifications were made with (the browser's own Notification, which
 * still shows them), so that a test can read them and click one.
 */
async function recordNotifications(app: AppPage, origin: string, grant: boolean): Promise<void> {
  if (grant) await app.context.grantPermissions(['notifications'], { origin });
  await app.context.addInitScript(() => {
    const Real = window.Notification;
    const shown: Notification[] = [];
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        shown.push(this);
      }
    }
    Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
    Object.defineProperty(Recorded, 'requestPermission', { value: (...args: Parameters<typeof Real.requestPermission>) => Real.requestPermission(...args) });
    Object.assign(window, { Notification: Recorded, shownNotifications: shown });
  });
  await app.page.reload();
  await waitConnected(app.page);
}

function shown(page: Page): Promise<Shown[]> {
  return page.evaluate(() => (window as unknown as { shownNotifications: Notification[] }).shownNotifications.map((n) => ({ title: n.title, body: n.body, tag: n.tag })));
}

/** The page loses the focus to another tab of its browser, as when its reader looks elsewhere. */
async function lookAway(app: AppPage): Promise<Page> {
  // Playwright makes every page of a headless browser think it has the focus: not this one.
  const cdp = await app.context.newCDPSession(app.page);
  await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
  const other = await app.context.newPage();
  await other.bringToFront();
  await app.page.waitForFunction(() => !document.hasFocus());
  return other;
}

describe('web app: desktop notifications of mentions', { skip }, () => {
  const suite = useHarness();

  it('turned on with the bell, a mention notifies while the page is not looked at: its room, its message, a click shows it', { timeout: 60_000 }, async () => {
    await createRoom(suite.h, 'notes');
    await createRoom(suite.h, 'elsewhere');
    const ann = await suite.open({ name: 'Ann', hash: '#/room/notes' });
    const bob = await suite.open({ name: 'Bob', hash: '#/room/notes' });
    await recordNotifications(ann, suite.h.base, true);
    const bell = ann.page.getByRole('button', { name: 'Notify me of mentions' });
    assert.equal(await bell.getAttribute('aria-pressed'), 'false');
    await bell.click();
    await ann.page.getByText('You will be notified when someone mentions you').waitFor();
    assert.equal(await bell.getAttribute('aria-pressed'), 'true');

    // Looked at: nothing.
    await send(bob.page, 'hi @Ann, seen here');
    await waitForMessage(ann.page, 'hi @Ann, seen here');

    await lookAway(ann);
    await send(bob.page, 'plain, no mention');
    await send(bob.page, 'in code `@Ann` is no mention');
    await send(bob.page, `hey @ann, **look** at this ${'long '.repeat(40)}end`);
    await ann.page.waitForFunction(() => (window as unknown as { shownNotifications: unknown[] }).shownNotifications.length > 0);
    await waitForMessage(ann.page, 'hey @ann');
    let notes = await shown(ann.page);
    assert.equal(notes.length, 1, JSON.stringify(notes));
    assert.equal(notes[0]!.title, 'Bob in #notes');
    assert.equal(notes[0]!.tag, 'switchboard:notes');
    assert.match(notes[0]!.body, /^hey @ann, look at this (long ){20,}/, 'the text without its markers');
    assert.ok([...notes[0]!.body].length <= 140 && notes[0]!.body.endsWith('…'), 'cut');

    // Another room: its count grows at the room list's next refresh.
    const bobElsewhere = await suite.open({ name: 'Bob', hash: '#/room/elsewhere' });
    await ann.page.locator('.room-list .room', { hasText: 'elsewhere' }).waitFor();
    // The list has counted #elsewhere once (a first count notifies of nothing).
    await ann.page.waitForTimeout(5_500);
    await send(bobElsewhere.page, '@Ann over here');
    await ann.page.waitForFunction(() => (window as unknown as { shownNotifications: unknown[] }).shownNotifications.length > 1, undefined, { timeout: 15_000 });
    notes = await shown(ann.page);
    assert.deepEqual(notes[1], { title: '#elsewhere', body: '1 new mention of you', tag: 'switchboard:elsewhere' });

    // A click on the first shows its message.
    await ann.page.evaluate(() => (window as unknown as { shownNotifications: Notification[] }).shownNotifications[0]!.dispatchEvent(new Event('click')));
    await ann.page.locator('li.msg.highlight', { hasText: 'hey @ann' }).waitFor();
    // And on the second, its room.
    await ann.page.evaluate(() => (window as unknown as { shownNotifications: Notification[] }).shownNotifications[1]!.dispatchEvent(new Event('click')));
    await ann.page.waitForFunction(() => location.hash === '#/room/elsewhere');
    await waitForMessage(ann.page, '@Ann over here');

    // Off: nothing more.
    await bell.click();
    assert.equal(await bell.getAttribute('aria-pressed'), 'false');
    await send(bobElsewhere.page, '@Ann again');
    await waitForMessage(ann.page, '@Ann again');
    await ann.page.waitForTimeout(300);
    assert.equal((await shown(ann.page)).length, 2);
    assert.equal(await ann.page.evaluate(() => localStorage.getItem('switchboard.notify')), null);
  });

  it('a browser that refuses: the bell says so and stays off', async () => {
    await createRoom(suite.h, 'refused');
    const cy = await suite.open({ name: 'Cy', hash: '#/room/refused' });
    await cy.context.grantPermissions([], { origin: suite.h.base });
    await recordNotifications(cy, suite.h.base, false);
    const bell = cy.page.getByRole('button', { name: 'Notify me of mentions' });
    await bell.click();
    await cy.page.getByText('Notifications are blocked for this site').waitFor();
    assert.equal(await bell.getAttribute('aria-pressed'), 'false');
  });
});
