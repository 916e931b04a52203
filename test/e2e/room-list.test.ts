import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openApp, skipWithoutBrowser, startHarness, type AppPage, type Harness } from './harness.js';

const skip = skipWithoutBrowser();

const ROOMS = 1500;
const roomName = (i: number): string => `r-${String(i).padStart(4, '0')}`;

describe('web app: room list with many rooms', { skip }, () => {
  let h: Harness;
  const opened: AppPage[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    for (const app of opened) assert.deepEqual(app.errors, [], 'uncaught errors in a page');
    await h?.close();
  });

  it(`${ROOMS} rooms touched: one list request and one unread-count request per refresh, no history request, at most 50 rooms drawn`, async () => {
    // Straight into the hub: the API's budget for creating rooms is a few per second.
    for (let i = 0; i < ROOMS; i++) await h.server.hub.createRoom(roomName(i));
    const app = await openApp(h, { name: 'Many', hash: '#/room/lobby' });
    opened.push(app);
    const { page } = app;
    const history: string[] = [];
    const counts: string[][] = [];
    let lists = 0;
    let pages = 0;
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (req.method() !== 'GET') return;
      // A refresh reads the list a page of 500 at a time: count refreshes (first pages) and pages apart.
      if (url.pathname === '/api/rooms') {
        pages++;
        if (!url.searchParams.has('after')) lists++;
      }
      // The server's unread counts, for the rooms drawn, in one request.
      else if (url.pathname === '/api/read') counts.push((url.searchParams.get('rooms') ?? '').split(','));
      // Other rooms' history (the chat's own room loads its history through the SDK).
      else if (/^\/api\/rooms\/[^/]+\/messages$/.test(url.pathname) && url.pathname !== '/api/rooms/lobby/messages') history.push(url.pathname);
    });
    await page.locator(`.room-list [data-room="${roomName(0)}"]`).waitFor();
    // Someone writes in every room.
    for (let i = 0; i < ROOMS; i++) {
      await h.server.hub.publish({ type: 'message', room: roomName(i), from: { id: 'writer-1', name: 'Writer', member: 'writer' }, text: `news ${i}` });
    }
    const started = Date.now();
    await page.waitForTimeout(12_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`in ${seconds.toFixed(1)} s with ${ROOMS} rooms touched: ${lists} list requests (${pages} pages), ${counts.length} count requests, ${history.length} history requests`);
    assert.ok(lists <= 4, `list requests: ${lists}`);
    // One refresh may be in flight at the end of the window (or retry a page): one refresh's pages of slack.
    assert.ok(pages <= (lists + 1) * Math.ceil((ROOMS + 1) / 500), `list pages: ${pages} for ${lists} refreshes`);
    // Counts come from the server: one request per refresh for the rooms drawn (at most 50), never a history page.
    assert.deepEqual(history, [], 'no history request to count unread');
    assert.ok(counts.length > 0 && counts.length <= lists + 1, `count requests: ${counts.length} for ${lists} refreshes`);
    for (const rooms of counts) {
      assert.ok(rooms.length <= 50, `rooms in one count request: ${rooms.length}`);
      for (const room of rooms) assert.match(room, /^r-00[0-4]\d$/, 'only rooms drawn (the current one needs no count)');
    }

    // Rooms drawn show their exact count.
    await page.getByRole('button', { name: `${roomName(0)}, 1 unread`, exact: true }).waitFor();
    assert.ok((await page.locator('.room-list button.room').count()) <= 51, 'at most 50 rooms drawn (and the current one)');
    await page.screenshot({ path: '/tmp/e2e-rooms-many.png' });
    const more = page.getByRole('button', { name: `Show 50 more rooms (${ROOMS + 1 - 50} not shown)` });
    await more.click();
    assert.equal(await page.locator('.room-list button.room').count(), 100);
    // Focus moves to the first room revealed.
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.room), roomName(49));
    await app.context.close();
  });
});
