import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TRANSPORTS, type TransportName } from '../../src/protocol/types.js';
import { createSwitchboard, type Switchboard } from '../../src/server/index.js';
import { createRoom, LABELS, openApp, pickTransport, send, skipWithoutBrowser, startHarness, waitForMessage, type AppPage, type Harness } from './harness.js';

const skip = skipWithoutBrowser();

/** What each transport must show in the wire inspector after a message was sent and received. */
const EXPECTED_ROWS: Record<TransportName, string[]> = {
  // frames both ways, the publish frame with the text, and the ack
  websocket: ['.wire-row.kind-ws.dir-out >> text=/"type":"publish".*wire test websocket/', '.wire-row.kind-ws.dir-in >> text=/"type":"ack"/', '.wire-row.kind-ws.dir-in >> text=/"type":"message"/'],
  // the event with its id, and the publish as an HTTP POST
  sse: ['.wire-row.kind-sse >> text=/^id \\w+:\\d+$/', '.wire-row.kind-sse >> text=/^message \\{"type":"message"/', '.wire-row.kind-http >> text=/POST \\/api\\/rooms\\/wire\\/messages/'],
  'long-polling': ['.wire-row.kind-http >> text=/GET \\/api\\/rooms\\/wire\\/longpoll/', '.wire-row.kind-http >> text=/"entries":\\[\\{"type":"message"/', '.wire-row.kind-http >> text=/POST \\/api\\/rooms\\/wire\\/messages/'],
  polling: ['.wire-row.kind-http >> text=/GET \\/api\\/rooms\\/wire\\/poll\\?/', '.wire-row.kind-http >> text=/"entries":\\[\\]/', '.wire-row.kind-http >> text=/POST \\/api\\/rooms\\/wire\\/messages/'],
};

describe('web app: wire inspector and Compare', { skip }, () => {
  let h: Harness;
  const opened: AppPage[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    for (const app of opened) assert.deepEqual(app.errors, [], 'uncaught errors in a page');
    await h?.close();
  });

  it('the wire inspector shows what each transport does on the wire', async () => {
    await createRoom(h, 'wire');
    const app = await openApp(h, { name: 'Wendy', pollIntervalMs: 250, hash: '#/room/wire' });
    opened.push(app);
    const { page } = app;
    const panel = page.getByRole('region', { name: 'Wire inspector' });
    await panel.getByRole('heading', { name: 'Wire inspector' }).waitFor();
    for (const transport of TRANSPORTS) {
      await panel.getByRole('button', { name: 'Clear' }).click();
      await pickTransport(page, transport);
      await send(page, `wire test ${transport}`);
      await waitForMessage(page, `wire test ${transport}`);
      for (const selector of EXPECTED_ROWS[transport]) {
        await panel.locator(selector).first().waitFor({ timeout: 5000 }).catch(() => {
          throw new Error(`${LABELS[transport]}: no wire row matches ${selector}`);
        });
      }
      // Rows say which transport they belong to, with bytes.
      assert.ok((await panel.locator(`.wire-row[data-transport="${transport}"]`).count()) > 0);
      assert.match((await panel.locator('.wire-row .w-bytes').first().textContent()) ?? '', /\d+ (B|kB)/);
    }
    // Long polling shows how long a request was held.
    await pickTransport(page, 'long-polling');
    await page.waitForTimeout(300);
    await send(page, 'held');
    await panel.locator('.wire-row.kind-http', { hasText: /longpoll/ }).locator('.w-details', { hasText: /^200 · (held )?\d/ }).first().waitFor();

    // Pause holds new rows back; Resume shows them; Clear empties; the list is bounded.
    const pause = panel.getByRole('button', { name: 'Pause' });
    await pause.click();
    const before = await panel.locator('.wire-row').count();
    await send(page, 'while paused');
    await waitForMessage(page, 'while paused');
    await panel.locator('.wire-held', { hasText: /Paused: [1-9]\d* new events? held/ }).waitFor();
    assert.equal(await panel.locator('.wire-row').count(), before);
    await panel.getByRole('button', { name: 'Resume' }).click();
    await panel.locator('.wire-row', { hasText: 'while paused' }).first().waitFor();
    await panel.getByRole('button', { name: 'Clear' }).click();
    assert.equal(await panel.locator('.wire-row').count(), 0);
    await pickTransport(page, 'polling');
    await page.waitForTimeout(300);
    // 250 ms polling makes rows fast; more than 200 are never kept.
    await page.evaluate(async () => {
      for (let i = 0; i < 30; i++) await new Promise((r) => setTimeout(r, 20));
    });
    assert.ok((await panel.locator('.wire-row, .wire-note').count()) <= 200);
    await app.context.close();
  });

  it('Compare joins the room once per transport and shows a message arriving in all four panes', async () => {
    await createRoom(h, 'versus');
    const app = await openApp(h, { name: 'Cora', pollIntervalMs: 250, hash: '#/room/versus', viewport: { width: 1600, height: 1000 } });
    opened.push(app);
    const { page } = app;
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.getByRole('heading', { name: 'Compare transports' }).waitFor();
    assert.equal(new URL(page.url()).hash, '#/compare');
    const panes = page.locator('section.pane');
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    assert.deepEqual(await panes.locator('h2').allTextContents(), TRANSPORTS.map((t) => LABELS[t]));

    const latencies: Record<string, string[]> = {};
    for (const text of ['compare one', 'compare two', 'compare three']) {
      await send(page, text);
      for (const transport of TRANSPORTS) {
        const row = page.locator(`section.pane[data-transport="${transport}"] .arrivals li`, { hasText: text });
        await row.waitFor({ timeout: 5000 });
        const latency = (await row.locator('.latency').textContent()) ?? '';
        assert.match(latency, /^\d+(\.\d)? (ms|s)$/);
        (latencies[transport] ??= []).push(latency);
      }
    }
    console.log(`latency per transport (WebSocket publisher, short polling every 250 ms): ${JSON.stringify(latencies)}`);
    // Counters: WebSocket and SSE made (almost) no requests; short polling made many, most empty.
    await page.waitForTimeout(1200);
    const counter = (transport: TransportName, name: string): Promise<string> =>
      page.locator(`section.pane[data-transport="${transport}"] .counter`, { hasText: name }).locator('dd').textContent().then((t) => t ?? '');
    const requests = Object.fromEntries(await Promise.all(TRANSPORTS.map(async (t) => [t, Number(await counter(t, 'Requests'))] as const)));
    console.log(`requests per pane: ${JSON.stringify(requests)}`);
    assert.ok(requests.polling! > requests.websocket! + 5, 'short polling makes more requests than WebSocket');
    assert.ok(Number(await counter('polling', 'Empty answers')) > 0);
    assert.equal(await counter('websocket', 'Messages'), '3');
    assert.match(await counter('websocket', 'Latency p50'), /\d/);
    assert.equal(await page.locator('section.pane svg.chart rect.bar').count() > 0, true, 'charts drawn');

    // The four clients are distinct members of a room of their own (the chat's room has only the
    // chat), and leave when the view is left.
    const own = /#(compare-[a-z0-9]+)/.exec((await page.locator('.compare-intro').textContent()) ?? '')?.[1];
    const members = async (room: string): Promise<number> => new Set(((await (await fetch(`${h.base}/api/rooms/${room}/presence`)).json()) as { members: Array<{ member: string }> }).members.map((m) => m.member)).size;
    assert.equal(await members(own!), 4, 'four Compare members');
    assert.equal(await members('versus'), 1, 'the chat alone in its room');
    await page.getByRole('button', { name: 'Chat', exact: true }).click();
    await page.getByLabel('Transport', { exact: true }).waitFor();
    assert.equal(await page.locator('section.pane').count(), 0);
    await app.context.close();
  });

  it('a pane waiting to reconnect counts its seconds down, and its live region says the state once, not each second', async () => {
    // A server of its own, over a SQLite file, stopped and started again on the same port.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-e2e-countdown-'));
    let server: Switchboard | undefined;
    const serve = async (port: number): Promise<number> => {
      server = createSwitchboard({ port, host: '127.0.0.1', store: 'sqlite', dataDir, logLevel: 'silent', shutdownTimeoutMs: 500 });
      return server.listen();
    };
    try {
      const port = await serve(0);
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/api/rooms/countdown`, { method: 'PUT' })).status, 201);
      const app = await openApp({ ...h, base }, { name: 'Dana', hash: '#/compare', localStorage: { 'switchboard.room': 'countdown' } });
      opened.push(app);
      const { page } = app;
      await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4, undefined, { timeout: 15_000 });
      const pane = page.locator('section.pane[data-transport="websocket"]');
      const status = pane.getByRole('status');
      assert.match((await status.textContent())!, /^WebSocket: Connected/);
      // Every change of what the pane shows and of what its live region holds, with its time.
      await pane.evaluate((section) => {
        const shown = section.querySelector('.pane-status-text')!;
        const region = section.querySelector('[role="status"]')!;
        const log = { shown: [] as Array<{ at: number; text: string }>, said: [] as Array<{ at: number; text: string }> };
        (window as unknown as { countdownLog: typeof log }).countdownLog = log;
        // (No named functions in here: tsx would wrap them in a helper the page lacks.)
        for (const [el, into] of [[shown, log.shown], [region, log.said]] as const) {
          new MutationObserver(() => {
            const text = el.textContent!.trim();
            if (text !== into.at(-1)?.text) into.push({ at: performance.now(), text });
          }).observe(el, { subtree: true, childList: true, characterData: true });
        }
      });

      await server!.close();
      // The backoff grows with each failed attempt (a stopped server refuses at once): wait for
      // a wait of 3 s or more, then for the next two seconds of it, with nothing in between.
      const run = await page.waitForFunction(() => {
        const shown = (window as unknown as { countdownLog: { shown: Array<{ at: number; text: string }> } }).countdownLog.shown;
        const left = shown.map((e) => Number(/ in (\d+) s$/.exec(e.text)?.[1] ?? NaN));
        for (let i = 0; i + 2 < shown.length; i++) {
          const n = left[i]!;
          if (n >= 3 && left[i + 1] === n - 1 && left[i + 2] === n - 2 && shown[i + 2]!.at - shown[i]!.at < 2600) return shown.slice(i, i + 3);
        }
        return false;
      }, undefined, { timeout: 45_000, polling: 100 }).then((handle) => handle.jsonValue() as Promise<Array<{ at: number; text: string }>>).catch(async () => {
        const seen = await page.evaluate(() => (window as unknown as { countdownLog: { shown: Array<{ text: string }> } }).countdownLog.shown.map((e) => e.text));
        throw new Error(`no countdown of a second at a time: the pane showed ${JSON.stringify(seen)}`);
      });
      console.log(`countdown shown: ${JSON.stringify(run.map((e) => `${e.text} @${Math.round(e.at - run[0]!.at)} ms`))}`);
      await page.screenshot({ path: '/tmp/e2e-compare-reconnecting.png' });
      assert.equal(await pane.getAttribute('data-status'), 'reconnecting');
      // The live region (named after its pane) says the state, without the seconds, and was not
      // written while they counted down.
      assert.equal(await status.count(), 1);
      assert.equal((await status.textContent())!.trim(), 'WebSocket: Reconnecting');
      const said = await page.evaluate(() => (window as unknown as { countdownLog: { said: Array<{ at: number; text: string }> } }).countdownLog.said);
      assert.deepEqual(said.filter((e) => e.at > run[0]!.at - 1 && e.at <= run[2]!.at), [], 'the live region is not written as the seconds go');
      for (const e of said) assert.doesNotMatch(e.text, /\d+ s\b/, `the live region never holds the seconds (it said: ${JSON.stringify(said.map((x) => x.text))})`);
      assert.ok(said.some((e) => e.text === 'WebSocket: Reconnecting'), `the change of state was said (${JSON.stringify(said.map((x) => x.text))})`);

      // Back: the pane reconnects (within the backoff's 15 s ceiling) and the count goes.
      await serve(port);
      await page.waitForFunction(() => document.querySelector('section.pane[data-transport="websocket"]')!.getAttribute('data-status') === 'connected', undefined, { timeout: 20_000 });
      assert.match((await status.textContent())!, /^WebSocket: Connected · WS$/);
      assert.equal((await pane.locator('.pane-status-text').textContent())!.trim(), 'WebSocket: Connected · WS');
      await app.context.close();
    } finally {
      await server?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('on a phone (390 px) each pane says its status, and a message arriving has its text on a line of its own', async () => {
    await createRoom(h, 'narrow-compare');
    const app = await openApp(h, { name: 'Carl', pollIntervalMs: 250, hash: '#/room/narrow-compare', viewport: { width: 390, height: 844 } });
    opened.push(app);
    const { page } = app;
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    const own = /#(compare-[a-z0-9]+)/.exec((await page.locator('.compare-intro').textContent()) ?? '')?.[1];
    const res = await fetch(`${h.base}/api/rooms/${own}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Test message 7', name: 'Dora', member: 'dora' }) });
    assert.ok(res.ok, `POST message: ${res.status}`);
    await page.waitForFunction(() => document.querySelectorAll('section.pane .arrivals li').length === 4);
    const panes = await page.locator('section.pane').evaluateAll((sections) =>
      sections.map((pane) => {
        const status = pane.querySelector('.pane-status-text')!.getBoundingClientRect();
        const text = pane.querySelector('.arrivals li .arrival-text')!.getBoundingClientRect();
        const meta = pane.querySelector('.arrivals li .arrival-meta')!.getBoundingClientRect();
        return { pane: (pane as HTMLElement).dataset.transport, statusShown: status.width > 40, textAboveMeta: text.bottom <= meta.top + 1, textOneLine: text.height < 1.8 * meta.height + 4 };
      }),
    );
    for (const pane of panes) assert.deepEqual(pane, { pane: pane.pane, statusShown: true, textAboveMeta: true, textOneLine: true });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= innerWidth), 'wider than the window');
    await app.context.close();
  });

  it('at 360 px, with a room of the longest name, nothing of Compare or of the chat reaches past the right edge', async () => {
    // 64 letters without a break, in Compare's intro and the chat's "This is the start of #…".
    const room = 'w'.repeat(64);
    await createRoom(h, room);
    const app = await openApp(h, { name: 'Cleo', hash: `#/room/${room}`, viewport: { width: 360, height: 640 } });
    opened.push(app);
    const { page } = app;
    const past = (): Promise<string[]> =>
      page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > innerWidth + 0.5; })
          .map((e) => `${e.tagName.toLowerCase()}.${e.className} (right ${Math.round(e.getBoundingClientRect().right)})`),
      );
    await page.getByText(`This is the start of #${room}.`).waitFor();
    assert.deepEqual(await past(), [], 'chat');
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    await page.waitForFunction(() => document.querySelectorAll('section.pane[data-status="connected"]').length === 4);
    await page.screenshot({ path: '/tmp/e2e-compare-360.png' });
    assert.deepEqual(await past(), [], 'Compare');
    await app.context.close();
  });
});
