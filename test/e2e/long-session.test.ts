/**
 * A tab left open in a busy room: while it follows the newest, it keeps the last MAX_SHOWN lines
 * or so (the oldest go in batches, and their folded copies with them), and scrolling up brings
 * them back as history, each once and in order, with what was amended meanwhile.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mintToken } from '../../src/server/auth/mint-token.js';
import { MAX_SHOWN } from '../../web/src/message-list.js';
import { messageTexts, skipWithoutBrowser, useHarness, waitForMessage } from './harness.js';

const skip = skipWithoutBrowser();
const TOTAL = MAX_SHOWN + 200;
const SECRET = 'e2e-secret-long-session-0123456789-0123';

describe('web app: a long session in a busy room', { skip }, () => {
  const suite = useHarness({ jwtSecret: SECRET, rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
  const token = (sub: string, name: string) => mintToken(SECRET, { sub, name, rooms: { '*': ['read', 'write', 'create'] }, ttlSec: 600 });

  it(`keeps at most ${MAX_SHOWN} lines and a batch while it follows; scrolling up loads the rest back, each once, in order, amended`, { timeout: 120_000 }, async () => {
    const room = 'busy';
    const feeder = { authorization: `Bearer ${await token('feeder', 'Feeder')}`, 'content-type': 'application/json' };
    assert.equal((await fetch(`${suite.h.base}/api/rooms/${room}`, { method: 'PUT', headers: feeder })).status, 201);
    const { page } = await suite.open({ localStorage: { 'switchboard.token': await token('tess', 'Tess'), 'switchboard.transport': 'websocket' }, hash: `#/room/${room}` });
    const call = async (method: string, path: string, body: object, status: number): Promise<void> => {
      const res = await fetch(`${suite.h.base}/api/rooms/${room}/${path}`, { method, headers: feeder, body: JSON.stringify(body) });
      assert.equal(res.status, status, `${method} ${path}: ${await res.text()}`);
    };
    for (let i = 1; i <= TOTAL; i++) await call('POST', 'messages', { text: `line ${i}`, clientId: `line-${i}` }, 201);
    await waitForMessage(page, `line ${TOTAL}`, 60_000);
    const lines = page.locator('ol.entries:not(.pending-entries) > li');
    const kept = await lines.count();
    assert.ok(kept >= MAX_SHOWN && kept <= MAX_SHOWN + 100, `${kept} lines kept of ${TOTAL} messages`);
    const shown = await messageTexts(page);
    assert.equal(shown.at(-1), `line ${TOTAL}`);
    assert.ok(!shown.includes('line 1'), 'the oldest went');
    const older = page.getByRole('button', { name: 'Load older messages' });
    await older.waitFor();

    // Amendments of lines gone from the page: a reply shown quotes line 1, which is then deleted
    // (the quote says so at once), and line 2 is edited; both show so once scrolled back to.
    await call('POST', 'messages', { text: 'a reply to line 1', replyTo: 1 }, 201);
    const reply = page.locator('li.msg', { hasText: 'a reply to line 1' });
    await reply.locator('.quote', { hasText: 'line 1' }).waitFor();
    await call('PATCH', 'messages/2', { text: 'line 2, edited' }, 201);
    await call('DELETE', 'messages/1', {}, 201);
    await reply.locator('.quote', { hasText: 'Original message deleted' }).waitFor();

    // Up to the start, a page at a time, as a reader scrolls.
    const log = page.getByRole('log', { name: `Conversation in ${room}` });
    const start = page.getByText(`This is the start of #${room}.`);
    for (let pages = 0; !(await start.isVisible()); pages++) {
      assert.ok(pages < 40, 'the start of the room was reached');
      await log.evaluate((el) => (el.scrollTop = 0));
      await page.waitForTimeout(100);
    }
    const all = await messageTexts(page);
    assert.deepEqual(all, [...['Message deleted', 'line 2, edited'], ...Array.from({ length: TOTAL - 2 }, (_, k) => `line ${k + 3}`), 'a reply to line 1']);
  });
});
