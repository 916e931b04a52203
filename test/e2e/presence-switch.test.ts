import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRoom, openApp, pickTransport, skipWithoutBrowser, startHarness, waitConnected, type AppPage, type Harness } from './harness.js';

const skip = skipWithoutBrowser();
// The grace a closed connection is still listed for; the old transport of a switch was listed that long.
const GRACE_MS = 5000;

describe("web app: 'Here now' after a transport switch", { skip }, () => {
  let h: Harness;
  const opened: AppPage[] = [];

  before(async () => {
    h = await startHarness({ presenceGraceMs: GRACE_MS });
  });
  after(async () => {
    for (const app of opened) assert.deepEqual(app.errors, [], 'uncaught errors in a page');
    await h?.close();
  });

  it("Bob switches from WebSocket to long polling: Ada sees him with the long-poll badge only, at once, and never without him, past the grace too", { timeout: 30_000 }, async () => {
    const room = 'here-now-switch';
    await createRoom(h, room);
    const ada = await openApp(h, { name: 'Ada', transport: 'websocket', hash: `#/room/${room}` });
    const bob = await openApp(h, { name: 'Bob', transport: 'websocket', hash: `#/room/${room}` });
    opened.push(ada, bob);
    await waitConnected(bob.page, 'websocket');
    const bobRow = ada.page.locator('.presence-list .person', { hasText: 'Bob' });
    await bobRow.locator('.chip-websocket').waitFor();
    // Whether Bob's row ever went missing from Ada's list, watched in her page from now on.
    await ada.page.evaluate(() => {
      const w = window as unknown as { bobMissing: boolean };
      w.bobMissing = false;
      // No named function in here: the test's transpiler would wrap it in a helper the page lacks.
      new MutationObserver(() => {
        if (![...document.querySelectorAll('.presence-list .person-name')].some((e) => e.textContent?.startsWith('Bob'))) w.bobMissing = true;
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await pickTransport(bob.page, 'long-polling');
    const switched = Date.now();
    // Within a presence notice's gap (1 s) and some slack: well before the grace (5 s) runs out.
    await ada.page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll('.presence-list .person')].find((e) => e.querySelector('.person-name')?.textContent?.startsWith('Bob'));
        return row !== undefined && row.querySelector('.chip-long-polling') !== null && row.querySelector('.chip-websocket') === null;
      },
      undefined,
      { timeout: GRACE_MS / 2 },
    );
    assert.ok(Date.now() - switched < GRACE_MS / 2, 'the new badge alone, long before the grace ran out');
    // Past the grace of the old transport: Bob, still connected, stays (its close removed no one).
    await new Promise((r) => setTimeout(r, GRACE_MS + 1000));
    assert.deepEqual(await bobRow.locator('.chip').evaluateAll((chips) => chips.map((c) => c.className)), ['chip chip-long-polling']);
    assert.equal(await ada.page.evaluate(() => (window as unknown as { bobMissing: boolean }).bobMissing), false, "Bob never left Ada's list");
    await ada.context.close();
    await bob.context.close();
  });

  it('a long name in "Here now" is cut to fit, its tooltip whole, and "(you)" after it stays whole beside the long-poll badge', { timeout: 30_000 }, async () => {
    const room = 'here-now-long-name';
    await createRoom(h, room);
    const name = 'Alexandra Konstantinopoulou-Varga';
    const app = await openApp(h, { name, transport: 'long-polling', hash: `#/room/${room}` });
    opened.push(app);
    const row = app.page.locator('.presence-list .person', { hasText: '(you)' });
    await row.locator('.chip-long-polling').waitFor();
    const fit = await row.evaluate((li) => {
      const label = li.querySelector('.person-label') as HTMLElement;
      const you = li.querySelector('.you')!;
      const [youBox, nameBox] = [you.getBoundingClientRect(), li.querySelector('.person-name')!.getBoundingClientRect()];
      return { cut: label.scrollWidth > label.clientWidth, title: label.title, youRight: youBox.right, nameRight: nameBox.right, youWidth: youBox.width, youText: you.textContent };
    });
    assert.equal(fit.cut, true, 'the name is cut to fit the sidebar');
    assert.equal(fit.title, name, 'its tooltip has it whole');
    assert.equal(fit.youText, ' (you)');
    assert.ok(fit.youWidth > 20 && fit.youRight <= fit.nameRight + 0.5, `"(you)" whole: ${JSON.stringify(fit)}`);
  });
});
