/**
 * A tab left open in a busy room: while it follows the newest, it keeps the last MAX_SHOWN lines
 * or so (the oldest go in batches), and scrolling up brings them back as history, each once and
 * in order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_SHOWN } from '../../web/src/message-list.js';
import { createRoom, messageTexts, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();
const TOTAL = MAX_SHOWN + 200;

describe('web app: a long session in a busy room', { skip }, () => {
  const suite = useHarness({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });

  it(`keeps at most ${MAX_SHOWN} lines and a batch while it follows; scrolling up loads the rest back, each once and in order`, { timeout: 120_000 }, async () => {
    const room = 'busy';
    await createRoom(suite.h, room);
    const { page } = await suite.open({ name: 'Tess', transport: 'websocket', hash: `#/room/${room}` });
    const post = async (i: number): Promise<void> => {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `line ${i}`, name: 'Feeder', member: 'feeder', clientId: `line-${i}` }) });
      assert.equal(res.status, 201);
    };
    for (let i = 1; i <= TOTAL; i++) await post(i);
    await waitForMessage(page, `line ${TOTAL}`, 60_000);
    const lines = page.locator('ol.entries:not(.pending-entries) > li');
    const kept = await lines.count();
    assert.ok(kept >= MAX_SHOWN && kept <= MAX_SHOWN + 100, `${kept} lines kept of ${TOTAL} messages`);
    const shown = await messageTexts(page);
    assert.equal(shown.at(-1), `line ${TOTAL}`);
    assert.ok(!shown.includes('line 1'), 'the oldest went');
    const older = page.getByRole('button', { name: 'Load older messages' });
    await older.waitFor();

    // Up to the start, a page at a time, as a reader scrolls.
    const log = page.getByRole('log', { name: `Conversation in ${room}` });
    const start = page.getByText(`This is the start of #${room}.`);
    for (let pages = 0; !(await start.isVisible()); pages++) {
      assert.ok(pages < 40, 'the start of the room was reached');
      await log.evaluate((el) => (el.scrollTop = 0));
      await page.waitForTimeout(100);
    }
    const all = await messageTexts(page);
    assert.deepEqual(all, Array.from({ length: TOTAL }, (_, k) => `line ${k + 1}`));
  });
});
