import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { createRoom, pickTransport, send, skipWithoutBrowser, useHarness, waitConnected, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: chat, laid out (groups, cut names, the header, the day label)', { skip }, () => {
  const suite = useHarness();

  it('groups a sender\'s messages by transport too: a message sent over another one starts a group whose header names it', async () => {
    const room = 'grouped-by-transport';
    await createRoom(suite.h, room);
    const post = async (text: string): Promise<void> => {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'Walt', member: 'walt' }) });
      assert.ok(res.ok, `POST message: ${res.status}`);
    };
    await post('one');
    await post('two');
    const walt = await connect({ url: suite.h.base, room, name: 'Walt', member: 'walt', transport: 'websocket' });
    await walt.publish('three');
    await post('four');
    const app = await suite.open({ name: 'Reader', hash: `#/room/${room}` });
    await waitForMessage(app.page, 'four');
    const rows = await app.page.locator('li.msg').evaluateAll((els) =>
      els.map((el) => {
        const meta = el.querySelector('.meta')!;
        return `${el.querySelector('.text')!.textContent} ${getComputedStyle(meta).display === 'none' ? '(grouped)' : el.querySelector('.via')!.textContent}`;
      }),
    );
    assert.deepEqual(rows, ['one HTTP', 'two (grouped)', 'three WS', 'four HTTP']);
    // One's own over one transport group too (shown from the ack, the app names the transport the server will record).
    await send(app.page, 'mine 1');
    await send(app.page, 'mine 2');
    // In the conversation, from its entry (not the pending copy, nor the one shown from the ack).
    const mine = app.page.locator('li.msg[data-seq]:not([data-provisional])', { hasText: 'mine 2' });
    await mine.waitFor();
    // Grouped once both are in from their entries (either may replace its copy from the ack first).
    await app.page.locator('li.msg[data-seq]:not([data-provisional])', { hasText: 'mine 1' }).waitFor();
    await app.page.waitForFunction(() => [...document.querySelectorAll('li.msg[data-seq]')].find((el) => el.textContent?.includes('mine 2'))?.classList.contains('continued'), undefined, { timeout: 5000 });
    // Only now: "Walt left", a note once the grace after his close is over, would stand between
    // two messages sent at that moment (as on a loaded CI machine), which then rightly do not group.
    await walt.close();
  });

  it('a sender\'s 64-letter name is cut, the time beside it keeps one line, the bubble stays beside the avatar', async () => {
    const room = 'long-sender';
    await createRoom(suite.h, room);
    const name = 'Bartholomew-Maximilian-Alexander-Featherstonehaugh-Wolfeschlegel'.slice(0, 64);
    assert.equal(name.length, 64);
    const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hello', name, member: 'bart' }) });
    assert.ok(res.ok, `POST message: ${res.status}`);
    for (const width of [1280, 390]) {
      const app = await suite.open({ name: 'Reader', hash: `#/room/${room}`, viewport: { width, height: 800 } });
      await waitForMessage(app.page, 'hello');
      const meta = await app.page.locator('li.msg').first().evaluate((el) => {
        const sender = el.querySelector('.sender')!;
        const range = document.createRange();
        range.selectNodeContents(el.querySelector('.meta time')!);
        const [avatar, body] = ['.avatar', '.msg-body'].map((sel) => el.querySelector(sel)!.getBoundingClientRect().top);
        return { senderCut: sender.scrollWidth > sender.clientWidth, timeLines: range.getClientRects().length, besideAvatar: Math.abs(avatar! - body!) < 4 };
      });
      assert.deepEqual(meta, { senderCut: true, timeLines: 1, besideAvatar: true }, `at ${width} px`);
      await app.context.close();
    }
  });

  it('a link that fits on a line goes there whole, wherever the line ends; one longer than a line is cut rather than widen the bubble', async () => {
    const room = 'links-wrap';
    await createRoom(suite.h, room);
    const url = 'https://example.com/a/path';
    // Fillers of 1 to 16 words: the link starts at many places of a line, some near its end.
    const texts = Array.from({ length: 16 }, (_, i) => `${'words '.repeat(i + 1)}${url}`);
    const long = `https://example.com/${'x'.repeat(400)}`;
    for (const text of [...texts, long]) {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, name: 'Lin', member: 'lin' }) });
      assert.ok(res.ok, `POST message: ${res.status}`);
    }
    for (const width of [1280, 390]) {
      const app = await suite.open({ name: 'Reader', hash: `#/room/${room}`, viewport: { width, height: 800 } });
      await waitForMessage(app.page, 'xxxx');
      const lines = await app.page.locator('li.msg .msg-link').evaluateAll((links) =>
        links.map((a) => ({ text: a.textContent ?? '', lines: new Set([...a.getClientRects()].map((r) => Math.round(r.top))).size })),
      );
      assert.equal(lines.length, 17, `at ${width} px: 17 links`);
      for (const l of lines.slice(0, 16)) assert.equal(l.lines, 1, `at ${width} px, ${l.text} on ${l.lines} lines`);
      assert.ok(lines[16]!.lines > 1, `at ${width} px: the 420-letter link is cut over lines`);
      const overflow = await app.page.evaluate(() => {
        const list = document.querySelector('ol.entries')!;
        const bubble = [...document.querySelectorAll('li.msg')].at(-1)!.querySelector('.text')!;
        return { list: list.scrollWidth - list.clientWidth, bubble: bubble.scrollWidth - bubble.clientWidth };
      });
      assert.deepEqual(overflow, { list: 0, bubble: 0 }, `at ${width} px: nothing wider than the conversation`);
      await app.context.close();
    }
  });

  it('beside the wire inspector at 1280 px, a room name of 14 letters and the status pill are both whole over SSE and long polling', async () => {
    const room = 'amx4kyxq2z-abc';
    await createRoom(suite.h, room);
    for (const transport of ['sse', 'long-polling'] as const) {
      const app = await suite.open({ name: 'Tess', transport, hash: `#/room/${room}`, viewport: { width: 1280, height: 800 } });
      await waitConnected(app.page, transport);
      const cut = await app.page.evaluate(() =>
        ['#room-title', '.chat-header .status-text'].map((sel) => {
          const el = document.querySelector(sel)!;
          return { sel, text: (el as HTMLElement).innerText, cut: el.scrollWidth - el.clientWidth };
        }),
      );
      assert.ok(cut.every((c) => c.cut === 0), `cut over ${transport}: ${JSON.stringify(cut)}`);
      await app.context.close();
    }
  });

  it('fits its header to the window: a short room name is never cut, a long one never widens the page (phone, and beside the wire inspector, where the status pill is whole and the pickers share a row)', async () => {
    const long = 'a-rather-long-room-name-for-the-header-check';
    await createRoom(suite.h, long);
    // Beside the wire inspector, over SSE (the longest status): "#lobby" whole, the status pill gives way.
    const wide = await suite.open({ name: 'Wendy', transport: 'sse', hash: '#/room/lobby', viewport: { width: 1280, height: 800 } });
    await waitConnected(wide.page, 'sse');
    const title = await wide.page.locator('#room-title').evaluate((el) => ({ text: el.textContent, cut: el.scrollWidth - el.clientWidth }));
    assert.deepEqual(title, { text: '#lobby', cut: 0 }, 'the short title is cut');
    // Over WebSocket the pill says it whole ("Connected · WebSocket"): the search field narrows first.
    const ws = await suite.open({ name: 'Wes', transport: 'websocket', hash: '#/room/lobby', viewport: { width: 1280, height: 800 } });
    await waitConnected(ws.page, 'websocket');
    const pill = await ws.page.locator('.chat-header .status-text').evaluate((el) => ({ text: el.textContent, cut: el.scrollWidth - el.clientWidth }));
    assert.equal(pill.cut, 0, `the status pill is cut beside the wire inspector: ${JSON.stringify(pill)}`);
    // At the narrowest window the inspector opens in (1200 px), the two pickers (both there for short polling) share one row.
    await ws.page.setViewportSize({ width: 1200, height: 800 });
    await pickTransport(ws.page, 'polling');
    const tops = await ws.page.locator('.chat-toolbar .field').evaluateAll((fields) => fields.map((f) => Math.round(f.getBoundingClientRect().top)));
    assert.equal(new Set(tops).size, 1, `the toolbar takes two rows: ${JSON.stringify(tops)}`);
    await ws.context.close();
    // A long name: the header's last button stays inside the conversation column.
    await wide.page.goto(`${suite.h.base}/#/room/${long}`);
    await waitConnected(wide.page);
    const edges = await wide.page.evaluate(() => ({
      wire: document.querySelector('.wire-toggle')!.getBoundingClientRect().right,
      main: document.querySelector('.chat-main')!.getBoundingClientRect().right,
    }));
    assert.ok(edges.wire <= edges.main, `the wire button sticks out: ${JSON.stringify(edges)}`);
    // On a phone: nothing wider than the window, the title and the user's name cut instead.
    const phone = await suite.open({ name: 'Philomena', hash: `#/room/${long}`, viewport: { width: 390, height: 760 } });
    const fit = await phone.page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      title: document.querySelector('#room-title')!.getBoundingClientRect().right,
      user: document.querySelector('.user')!.getBoundingClientRect().right,
    }));
    assert.ok(fit.page <= 390 && fit.title <= 390 && fit.user <= 390, `wider than the window: ${JSON.stringify(fit)}`);
    await wide.context.close();
    await phone.context.close();
  });

  it('shows the polling interval only for short polling, the transport it paces; a short name is whole on a phone', async () => {
    const app = await suite.open({ name: 'Bob', transport: 'long-polling', hash: '#/room/lobby', viewport: { width: 390, height: 760 } });
    const interval = app.page.getByLabel('Polling interval', { exact: true });
    assert.equal(await interval.isVisible(), false, 'shown for long polling');
    await pickTransport(app.page, 'polling');
    assert.equal(await interval.isVisible(), true, 'hidden for short polling');
    await pickTransport(app.page, 'websocket');
    assert.equal(await interval.isVisible(), false, 'shown for WebSocket');
    // The tabs leave room for a three-letter name at 390 px (it was cut to "B…").
    const name = await app.page.locator('.user-name').evaluate((el) => ({ text: el.textContent, cut: el.scrollWidth - el.clientWidth }));
    assert.deepEqual(name, { text: 'Bob', cut: 0 });
    await app.context.close();
  });

  for (const width of [360, 320])
  it(`on a small phone (${width} px) a six-letter name is whole in the header, and no tab is cut`, async () => {
    const app = await suite.open({ name: 'Reader', hash: '#/room/lobby', viewport: { width, height: 640 } });
    const name = await app.page.locator('.user-name').evaluate((el) => ({ text: el.textContent, cut: el.scrollWidth - el.clientWidth }));
    assert.deepEqual(name, { text: 'Reader', cut: 0 }, 'it was cut to "Re…" at 360 px, "R…" at 320');
    for (const tab of await app.page.locator('.tab').all()) {
      assert.equal(await tab.evaluate((el) => el.scrollWidth - el.clientWidth), 0, `${await tab.textContent()} is whole`);
    }
    assert.ok((await app.page.evaluate(() => document.documentElement.scrollWidth)) <= width, 'the page does not scroll sideways');
    await app.page.screenshot({ path: `/tmp/e2e-header-${width}.png` });
    await app.context.close();
  });

  it('the day label ("Today") is centred on the conversation, above one\'s own message and above another\'s, on a wide screen and a phone', async () => {
    const room = 'day-label';
    await createRoom(suite.h, room);
    // Ann writes before the others come: her message, not a notice of their arrival, is the day's first.
    const ann = await suite.open({ name: 'Ann', hash: `#/room/${room}`, viewport: { width: 1400, height: 800 } });
    const phoneAnn = await suite.open({ name: 'Ann', hash: `#/room/${room}`, viewport: { width: 390, height: 844 }, localStorage: { 'switchboard.member': await ann.page.evaluate(() => localStorage.getItem('switchboard.member') ?? '') } });
    await send(ann.page, 'the first message of the day');
    await waitForMessage(ann.page, 'the first message of the day');
    const bob = await suite.open({ name: 'Bob', hash: `#/room/${room}`, viewport: { width: 390, height: 844 } });
    const wideBob = await suite.open({ name: 'Bob', hash: `#/room/${room}`, viewport: { width: 1400, height: 800 } });
    const owns: boolean[] = [];
    for (const { page } of [ann, phoneAnn, bob, wideBob]) {
      await waitForMessage(page, 'the first message of the day');
      // The label is the first message's ::before: its box from its computed position and transform.
      const m = await page.evaluate(() => {
        const li = document.querySelector<HTMLElement>('li.new-day')!;
        const cs = getComputedStyle(li, '::before');
        const box = li.getBoundingClientRect();
        const width = parseFloat(cs.width) + (cs.boxSizing === 'border-box' ? 0 : parseFloat(cs.paddingLeft) + parseFloat(cs.paddingRight));
        const label = box.left + parseFloat(cs.left) + new DOMMatrix(cs.transform).e + width / 2;
        const list = document.querySelector('ol.entries')!;
        const lb = list.getBoundingClientRect();
        const pad = parseFloat(getComputedStyle(list).paddingLeft);
        return { own: li.classList.contains('own'), label: Math.round(label), list: Math.round(lb.left + pad + (lb.width - 2 * pad) / 2), text: cs.content };
      });
      assert.equal(m.text, '"Today"');
      owns.push(m.own);
      assert.ok(Math.abs(m.label - m.list) <= 1, `${m.own ? 'own' : 'another\'s'} message at ${page.viewportSize()?.width} px: the label's centre ${m.label}, the conversation's ${m.list}`);
    }
    assert.deepEqual(owns, [true, true, false, false], 'own message first for Ann, another\'s for Bob');
    await ann.page.screenshot({ path: '/tmp/e2e-day-label.png' });
  });
});
