import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRANSPORTS } from '../../src/protocol/types.js';
import { createRoom, LABELS, messageTexts, pickTransport, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: chat', { skip }, () => {
  const suite = useHarness();

  it('asks for a name on the first visit, remembers it, and lands in lobby with the lecture routes', async () => {
    const app = await suite.open({ waitConnected: false });
    const { page } = app;
    await page.getByLabel('Your name').fill('Ada');
    await page.getByRole('button', { name: 'Start chatting' }).click();
    await waitConnected(page);
    assert.equal(await page.locator('#room-title').textContent(), '#lobby');
    assert.equal(await page.evaluate(() => localStorage.getItem('switchboard.name')), 'Ada');
    // The lecture's POST /update publishes to lobby: the app shows it.
    const res = await fetch(`${suite.h.base}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'from the lecture page' }) });
    assert.ok(res.ok, `POST /update: ${res.status}`);
    await waitForMessage(page, 'from the lecture page');
    await page.reload();
    await waitConnected(page);
    assert.equal(await page.getByRole('dialog').count(), 0, 'no name dialog on the second visit');
    assert.match((await page.locator('.user-name').textContent()) ?? '', /Ada/);
    // A link to a room that does not exist offers to create it.
    await page.evaluate(() => (location.hash = '#/room/brand-new'));
    await page.getByText('There is no room #brand-new yet.').waitFor();
    await page.getByRole('button', { name: 'Create #brand-new' }).click();
    await waitConnected(page);
    assert.equal(await page.locator('#room-title').textContent(), '#brand-new');
    await app.context.close();
  });

  for (const transport of TRANSPORTS) {
    it(`two people chat over ${LABELS[transport]}`, async () => {
      const room = `chat-${transport}`;
      await createRoom(suite.h, room);
      const a = await suite.open({ name: 'Alice', transport, pollIntervalMs: 250, hash: `#/room/${room}` });
      const b = await suite.open({ name: 'Bob', transport, pollIntervalMs: 250, hash: `#/room/${room}` });
      await waitConnected(a.page, transport);
      await waitConnected(b.page, transport);
      // Typing shows on the other side, on every transport (a typing notice answers a held long poll).
      await a.page.getByLabel('Message', { exact: true }).pressSequentially('hel');
      await b.page.locator('.typing', { hasText: 'Alice is typing…' }).waitFor();
      await send(a.page, `hi Bob, over ${transport}`);
      await waitForMessage(b.page, `hi Bob, over ${transport}`);
      await send(b.page, 'hi Alice 안녕하세요 👋🏽');
      await waitForMessage(a.page, 'hi Alice 안녕하세요 👋🏽');
      // Each side has both, once, in order; own messages are set apart.
      for (const { page } of [a, b]) {
        await page.waitForFunction(() => document.querySelectorAll('ol.pending-entries > li').length === 0);
        assert.deepEqual(await messageTexts(page), [`hi Bob, over ${transport}`, 'hi Alice 안녕하세요 👋🏽']);
      }
      assert.equal(await a.page.locator('li.msg.own .text').first().textContent(), `hi Bob, over ${transport}`);
      assert.equal(await b.page.locator('li.msg:not(.own) .sender').first().textContent(), 'Alice');
      // Presence lists both, with the transport.
      await b.page.locator('.presence-list .person', { hasText: 'Alice' }).locator(`.chip-${transport}`).waitFor();
      // Alice closes her tab: she leaves the list after the grace period (5 s), pollers too
      // (before: a polling tab stayed listed until its polls' time ran out, 35 s).
      await a.page.close({ runBeforeUnload: true });
      await b.page
        .locator('.presence-list .person', { hasText: 'Alice' })
        .waitFor({ state: 'detached', timeout: 9000 })
        .catch(async (err: unknown) => {
          // Which side kept her: the server's list, or Bob's page only.
          const server = (await (await fetch(`${suite.h.base}/api/rooms/${room}/presence`)).json()) as { members: Array<{ name: string; transports: string[] }> };
          throw new Error(`Alice still listed by Bob's page; the server lists ${JSON.stringify(server.members.map((m) => `${m.name} ${m.transports.join()}`))}`, { cause: err });
        });
      await a.context.close();
      await b.context.close();
    });
  }

  it('switching transport in the middle of a conversation loses and doubles nothing', async () => {
    const room = 'switching';
    await createRoom(suite.h, room);
    const a = await suite.open({ name: 'Alice', transport: 'websocket', pollIntervalMs: 250, hash: `#/room/${room}` });
    const b = await suite.open({ name: 'Bob', transport: 'polling', pollIntervalMs: 250, hash: `#/room/${room}` });
    // A third party publishes every 60 ms over HTTP the whole time (under the rate limit of 20/s),
    // up to FEED_MAX messages: on a loaded machine the switches take longer, and an unbounded feed
    // grew the pages with them (CI once saw 102 s and a message box too busy to type in).
    const FEED_MAX = 250;
    const sent: string[] = [];
    let stop = false;
    const feeder = (async () => {
      for (let i = 1; !stop && i <= FEED_MAX; i++) {
        const text = `feed ${i}`;
        const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'Feeder', member: 'feeder', clientId: `feed-${i}` }) });
        assert.ok(res.ok);
        sent.push(text);
        await new Promise((r) => setTimeout(r, 60));
      }
    })();
    const order: Array<['a' | 'b', (typeof TRANSPORTS)[number]]> = [
      ['a', 'sse'],
      ['b', 'long-polling'],
      ['a', 'polling'],
      ['b', 'websocket'],
      ['a', 'long-polling'],
      ['b', 'sse'],
      ['a', 'websocket'],
    ];
    for (const [who, transport] of order) {
      const app = who === 'a' ? a : b;
      await pickTransport(app.page, transport);
      await send(app.page, `${who} now on ${transport}`);
    }
    stop = true;
    await feeder;
    const expected = [...sent];
    for (const [who, transport] of order) expected.push(`${who} now on ${transport}`);
    for (const { page } of [a, b]) {
      await waitForMessage(page, sent.at(-1)!);
      await waitForMessage(page, 'a now on websocket');
      await page.waitForFunction(() => document.querySelectorAll('ol.pending-entries > li').length === 0);
      const shown = await messageTexts(page);
      const counts = new Map<string, number>();
      for (const t of shown) counts.set(t, (counts.get(t) ?? 0) + 1);
      const doubled = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
      assert.deepEqual(doubled, [], 'messages shown twice');
      const missing = expected.filter((t) => !counts.has(t));
      assert.deepEqual(missing, [], 'messages lost');
      // The feed arrives in order.
      const feed = shown.filter((t) => t.startsWith('feed '));
      assert.deepEqual(feed, sent);
    }
    assert.ok(sent.length >= 10, `the feed ran during the switches (${sent.length} messages)`);
    await a.context.close();
    await b.context.close();
  });

  it('shows markup as text and never runs it; Enter sends, Shift+Enter adds a line; long words wrap', async () => {
    const room = 'markup';
    await createRoom(suite.h, room);
    const a = await suite.open({ name: 'Mallory', hash: `#/room/${room}` });
    const b = await suite.open({ name: '<b>Bob</b>', hash: `#/room/${room}` });
    const attacks = [
      '<img src=x onerror="window.__pwned=1">',
      '<script>window.__pwned=2</script>',
      '<a href="javascript:window.__pwned=3">click</a> & <b>bold</b> &amp;',
      '<svg onload="window.__pwned=4"></svg>',
    ];
    for (const text of attacks) await send(a.page, text);
    await waitForMessage(b.page, attacks.at(-1)!);
    for (const { page } of [a, b]) {
      await page.waitForTimeout(200);
      assert.deepEqual(await messageTexts(page), attacks);
      assert.equal(await page.evaluate(() => (window as { __pwned?: number }).__pwned), undefined, 'markup ran');
      assert.equal(await page.locator('.entries img, .entries script, .entries svg:not(.icon), .entries a, .entries b').count(), 0, 'markup became elements');
    }
    // A name with markup is text too.
    await a.page.locator('.presence-list .person-name', { hasText: '<b>Bob</b>' }).waitFor();

    // Shift+Enter adds a line, Enter sends.
    const box = b.page.getByLabel('Message', { exact: true });
    await box.click();
    await b.page.keyboard.type('line one');
    await b.page.keyboard.press('Shift+Enter');
    await b.page.keyboard.type('line two');
    await b.page.keyboard.press('Enter');
    await waitForMessage(a.page, 'line one');
    assert.equal((await messageTexts(a.page)).at(-1), 'line one\nline two');
    assert.equal(await box.inputValue(), '');
    assert.equal(await b.page.getByRole('button', { name: 'Send' }).count(), 1);

    // A long word wraps inside its bubble (no horizontal scrolling).
    const long = 'x'.repeat(600);
    await send(a.page, long);
    await waitForMessage(b.page, long);
    const overflow = await b.page.evaluate(() => {
      const list = document.querySelector('.messages')!;
      const last = [...document.querySelectorAll('ol.entries > li.msg .bubble')].at(-1)!;
      return { scroll: list.scrollWidth - list.clientWidth, bubble: last.getBoundingClientRect().right - list.getBoundingClientRect().right };
    });
    assert.ok(overflow.scroll <= 0 && overflow.bubble <= 0, `long word overflows: ${JSON.stringify(overflow)}`);
    await a.context.close();
    await b.context.close();
  });

  it('queues messages while offline, shows them pending, and sends each once when back', async () => {
    const room = 'offline';
    await createRoom(suite.h, room);
    const a = await suite.open({ name: 'Olive', transport: 'long-polling', hash: `#/room/${room}` });
    const b = await suite.open({ name: 'Watcher', hash: `#/room/${room}` });
    // (Chromium's offline mode does not cut the held long poll: the first publish finds out.)
    await a.context.setOffline(true);
    await send(a.page, 'written offline 1');
    await send(a.page, 'written offline 2');
    await a.page.locator('.chat-header .status[data-status="offline"], .chat-header .status[data-status="reconnecting"]').waitFor();
    await a.page.locator('ol.pending-entries > li[data-state="queued"]', { hasText: 'written offline 2' }).waitFor();
    assert.match((await a.page.locator('ol.pending-entries').textContent()) ?? '', /Queued/);
    assert.match((await a.page.locator('.chat-header .status').textContent()) ?? '', /Offline|Reconnecting/);
    await a.context.setOffline(false);
    await waitForMessage(b.page, 'written offline 2', 20_000);
    await a.page.waitForFunction(() => document.querySelectorAll('ol.pending-entries > li').length === 0, undefined, { timeout: 20_000 });
    await b.page.waitForTimeout(300);
    assert.deepEqual(await messageTexts(b.page), ['written offline 1', 'written offline 2']);
    assert.deepEqual(await messageTexts(a.page), ['written offline 1', 'written offline 2']);
    await a.context.close();
    await b.context.close();
  });

  it('loads history on join and older pages on scrolling up; rooms show unread counts', async () => {
    const room = 'history';
    await createRoom(suite.h, room);
    // (Guests of an open server share one publish budget per address: wait when it runs out.)
    for (let i = 1; i <= 120; i++) {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `old ${i}`, name: 'Archivist', member: `archivist-${i}`, clientId: `old-${i}` }) });
        if (res.status === 429 && attempt < 20) {
          await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
          continue;
        }
        assert.ok(res.ok, `POST: ${res.status}`);
        break;
      }
    }
    const a = await suite.open({ name: 'Reader', hash: `#/room/${room}` });
    await waitForMessage(a.page, 'old 120');
    const first = await messageTexts(a.page);
    assert.ok(first.length < 120 && first.at(-1) === 'old 120', `first page: ${first.length}`);
    for (let i = 0; i < 6 && (await messageTexts(a.page)).length < 120; i++) {
      await a.page.locator('.messages').evaluate((el) => el.scrollTo({ top: 0 }));
      await a.page.waitForTimeout(250);
    }
    const all = await messageTexts(a.page);
    assert.deepEqual(all, Array.from({ length: 120 }, (_, i) => `old ${i + 1}`));
    await a.page.getByText('This is the start of #history.').waitFor();

    // Unread: open lobby, someone writes in history, its count shows.
    await a.page.getByRole('button', { name: /^lobby/ }).click();
    await waitConnected(a.page);
    for (const text of ['new 1', 'new 2', 'new 3']) {
      await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'Archivist', member: 'archivist' }) });
    }
    // The room list refreshes every 5 s.
    await a.page.getByRole('button', { name: 'history, 3 unread' }).waitFor({ timeout: 12_000 });
    await a.page.getByRole('button', { name: 'history, 3 unread' }).click();
    await waitForMessage(a.page, 'new 3');
    await a.page.getByRole('button', { name: /^lobby/ }).waitFor();
    assert.equal(await a.page.getByRole('button', { name: /^history, \d+ unread/ }).count(), 0, 'read once opened');
    await a.context.close();
  });

  it('the room button says as many people here as the "Here now" panel, at once when someone joins', async () => {
    const room = 'here-count';
    await createRoom(suite.h, room);
    const ann = await suite.open({ name: 'Ann', hash: `#/room/${room}` });
    // The list's first refresh drew the room with Ann alone.
    await ann.page.getByRole('button', { name: `${room}, 1 here` }).waitFor();
    await suite.open({ name: 'Bob', hash: `#/room/${room}` });
    // Read both in one go, the moment the panel counts Bob (the list refreshes only every 5 s).
    const seen = await ann.page.waitForFunction(
      (name) => {
        const panel = document.querySelector('.side-section.presence .count')?.textContent;
        if (panel !== '(2)') return undefined;
        return { panel, label: document.querySelector(`.room-list [data-room="${name}"]`)?.getAttribute('aria-label') };
      },
      room,
    );
    assert.deepEqual(await seen.jsonValue(), { panel: '(2)', label: `${room}, 2 here` });
  });
});
