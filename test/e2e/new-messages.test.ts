import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, send, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: "New messages" while reading older ones', { skip }, () => {
  const suite = useHarness();

  it('the button shows inside the conversation wherever it is scrolled, and takes a reader who asks for reduced motion to the bottom at once', async () => {
    const room = 'scrolled-up';
    await createRoom(suite.h, room);
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `older ${i}`, name: 'Bot' }) });
      assert.ok(res.ok, `POST: ${res.status}`);
    }
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
});
