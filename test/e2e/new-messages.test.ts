import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, keepNames, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: "New messages" while reading older ones', { skip }, () => {
  const suite = useHarness({ rateLimitPerSecond: 1_000, rateLimitBurst: 1_000 });

  /** Makes `room` with 30 messages from Bot ("older 0" to "older 29"): more than a phone's screen. */
  const roomWithHistory = async (room: string): Promise<void> => {
    await createRoom(suite.h, room);
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `older ${i}`, name: 'Bot' }) });
      assert.ok(res.ok, `POST: ${res.status}`);
    }
  };

  it('the button shows inside the conversation wherever it is scrolled, and takes a reader who asks for reduced motion to the bottom at once', async () => {
    const room = 'scrolled-up';
    await roomWithHistory(room);
    const reader = await suite.open({ name: 'Rhea', transport: 'sse', hash: `#/room/${room}`, viewport: { width: 360, height: 640 } });
    await reader.page.emulateMedia({ reducedMotion: 'reduce' });
    const writer = await suite.open({ name: 'Walt', transport: 'long-polling', hash: `#/room/${room}` });
    await waitForMessage(reader.page, 'older 29');
    const messages = reader.page.getByRole('log', { name: `Conversation in ${room}` });
    // A little up from the bottom, more than a screen from the top (where the old button sat).
    const top = await messages.evaluate((el) => (el.scrollTop = el.scrollHeight - el.clientHeight - 200));
    assert.ok(top > 640, `scrolled ${top} px from the top: more than a screen`);
    await send(writer.page, 'while you were reading');
    const jump = reader.page.getByRole('button', { name: 'New messages ↓' });
    await jump.waitFor();
    const [box, view] = await Promise.all([jump.boundingBox(), messages.boundingBox()]);
    assert.ok(box && view);
    assert.ok(box.y >= view.y && box.y + box.height <= view.y + view.height, `the button (y ${box.y}) is within the conversation's view (${view.y} to ${view.y + view.height})`);
    await reader.page.screenshot({ path: '/tmp/e2e-new-messages.png' });
    // No glide under reduced motion: at the bottom as soon as it is pressed.
    const left = await reader.page.evaluate(() => {
      const el = document.querySelector<HTMLElement>('[role="log"]')!;
      document.querySelector<HTMLButtonElement>('button.jump')!.click();
      return el.scrollHeight - el.scrollTop - el.clientHeight;
    });
    assert.ok(left < 2, `at the bottom at once (${left} px left)`);
    await jump.waitFor({ state: 'hidden' });
  });

  it('the tab title counts the messages not seen yet, and is not written again for each message a reader follows', async () => {
    const room = 'title-count';
    await roomWithHistory(room);
    const reader = await suite.open({ name: 'Tia', transport: 'websocket', hash: `#/room/${room}`, viewport: { width: 360, height: 640 } });
    const writer = await suite.open({ name: 'Will', transport: 'sse', hash: `#/room/${room}` });
    await waitForMessage(reader.page, 'older 29');
    const plain = `#${room} · Switchboard`;
    await reader.page.waitForFunction((t) => document.title === t, plain);
    // Every write of the title, counted (a write of the same text replaces the title's text too).
    await keepNames(reader.page);
    await reader.page.evaluate(() => {
      const w = window as unknown as { titleWrites: number };
      w.titleWrites = 0;
      new MutationObserver(() => w.titleWrites++).observe(document.querySelector('title')!, { childList: true, characterData: true, subtree: true });
    });
    // Followed at the bottom: seen as they come, so the title never counts them (it was written
    // twice per message, "(1) ..." then back, each an update of the tab in the browser).
    for (let i = 0; i < 5; i++) await send(writer.page, `followed ${i}`);
    await waitForMessage(reader.page, 'followed 4');
    assert.equal(await reader.page.evaluate(() => (window as unknown as { titleWrites: number }).titleWrites), 0, 'title writes while following');
    assert.equal(await reader.page.title(), plain);
    // Scrolled up: counted until the reader comes back down.
    const messages = reader.page.getByRole('log', { name: `Conversation in ${room}` });
    await messages.evaluate((el) => (el.scrollTop = 0));
    await send(writer.page, 'unseen 1');
    await send(writer.page, 'unseen 2');
    await waitForMessage(reader.page, 'unseen 2');
    await reader.page.waitForFunction((t) => document.title === t, `(2) ${plain}`);
    await messages.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await reader.page.waitForFunction((t) => document.title === t, plain);
  });

  it('a burst of messages is followed to the newest, and the page keeps up with it', async () => {
    const room = 'burst';
    await createRoom(suite.h, room);
    const reader = await suite.open({ name: 'Bea', transport: 'websocket', hash: `#/room/${room}`, viewport: { width: 360, height: 640 } });
    const messages = reader.page.getByRole('log', { name: `Conversation in ${room}` });
    await messages.waitFor();
    // Posted at once: many come in one animation frame, which scrolls once for all of them.
    const posts = Array.from({ length: 40 }, (_, i) =>
      fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `burst ${i}`, name: 'Bot', clientId: `burst-${i}` }) }),
    );
    for (const res of await Promise.all(posts)) assert.ok(res.ok, `POST: ${res.status}`);
    const newest = await fetch(`${suite.h.base}/api/rooms/${room}/messages?limit=1`).then((r) => r.json() as Promise<{ entries: { text: string }[] }>);
    await waitForMessage(reader.page, newest.entries[0]!.text, 30_000);
    await reader.page.waitForFunction(() => {
      const el = document.querySelector<HTMLElement>('[role="log"]')!;
      return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
    });
    assert.equal(await reader.page.getByRole('button', { name: 'New messages ↓' }).isVisible(), false, 'no "New messages" button: the reader followed');
  });

  it('back in a room, "New messages" marks the first message not read and shows it; the position moves only once the reader reaches the newest', async () => {
    const room = 'left-off';
    await roomWithHistory(room);
    const member = { 'switchboard.member': 'rory' };
    const position = async (): Promise<number | undefined> => {
      const state = (await (await fetch(`${suite.h.base}/api/rooms/${room}/read`)).json()) as { members: Array<{ member: string; seq: number }> };
      return state.members.find((m) => m.member === 'rory')?.seq;
    };
    const first = await suite.open({ name: 'Rory', hash: `#/room/${room}`, localStorage: member });
    await waitForMessage(first.page, 'older 29');
    const read = await first.page.locator('ol.entries > li.msg', { hasText: 'older 29' }).getAttribute('data-seq');
    for (let wait = 0; (await position()) !== Number(read) && wait < 100; wait++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await position(), Number(read), 'read up to the newest');
    assert.equal(await first.page.locator('li.first-unread').count(), 0, 'nothing unread: no line');
    await first.context.close();

    for (let i = 0; i < 25; i++) {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `later ${i}`, name: 'Bot' }) });
      assert.ok(res.ok);
    }
    const back = await suite.open({ name: 'Rory', hash: `#/room/${room}`, localStorage: member, viewport: { width: 1280, height: 700 } });
    const line = back.page.locator('li.first-unread');
    await line.waitFor();
    assert.match((await line.textContent()) ?? '', /later 0/);
    assert.equal(await back.page.evaluate(() => getComputedStyle(document.querySelector('li.first-unread')!, '::after').content), '"New messages"');
    // In view, at the top; the newest below the screen: the position has not moved.
    const box = await back.page.evaluate(() => {
      const log = document.querySelector('[role="log"]')!.getBoundingClientRect();
      const li = document.querySelector('li.first-unread')!.getBoundingClientRect();
      return { top: li.top - log.top, bottom: log.bottom - li.bottom };
    });
    assert.ok(box.top >= 0 && box.bottom > 0, `the first unread message is in view: ${JSON.stringify(box)}`);
    await back.page.waitForTimeout(500);
    assert.equal(await position(), Number(read), 'not read yet');
    // To the newest: read, and the line stays while the room is shown.
    await back.page.getByRole('log', { name: `Conversation in ${room}` }).evaluate((el) => (el.scrollTop = el.scrollHeight));
    for (let wait = 0; (await position()) === Number(read) && wait < 100; wait++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await position(), Number(read) + 25);
    assert.equal(await line.count(), 1);
    await back.context.close();

    // Two more, which fit on the screen under the line: the reader stays at the newest, whole, and has read them.
    for (const text of ['newer 1', 'newer 2']) assert.ok((await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'Bot' }) })).ok);
    const again = await suite.open({ name: 'Rory', hash: `#/room/${room}`, localStorage: member, viewport: { width: 1280, height: 700 } });
    await again.page.locator('li.first-unread', { hasText: 'newer 1' }).waitFor();
    for (let wait = 0; (await position()) !== Number(read) + 27 && wait < 100; wait++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await position(), Number(read) + 27);
    const gap = await again.page.evaluate(() => {
      const log = document.querySelector('[role="log"]')!;
      return log.scrollHeight - log.scrollTop - log.clientHeight;
    });
    assert.ok(gap < 2, `at the newest: ${gap} px below`);
  });
});
