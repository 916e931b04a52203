/**
 * A room bigger than the presence route lists (1000 members at most): "Here now" says the room's
 * count, lists the part it read, and says how many more there are.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRoom, skipWithoutBrowser, useHarness } from './harness.js';

const skip = skipWithoutBrowser();

describe('web app: a room of more than 1000 members', { skip }, () => {
  // 1001 pollers join from this one address: its connect budget is lifted for them.
  const s = useHarness({ connectRatePerSecond: 100_000 });

  it('"Here now" counts the whole room, lists 1000 and says how many more', { timeout: 60_000 }, async () => {
    const room = 'crowd';
    await createRoom(s.h, room);
    for (let i = 0; i < 1001; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, 1001 - i) }, async (_, k) => {
          const res = await fetch(`${s.h.base}/api/rooms/${room}/presence?name=p${i + k}&member=p${i + k}`, { method: 'POST' });
          assert.equal(res.status, 201, `join ${i + k}`);
          await res.text();
        }),
      );
    }
    const app = await s.open({ name: 'Ann', hash: `#/room/${room}` });
    // The panel first shows the part a subscriber's snapshot holds, then the server's read (every few seconds).
    await app.page.locator('.side-section.presence .count', { hasText: '(1002)' }).waitFor({ timeout: 30_000 });
    const panel = await app.page.evaluate(() => ({
      listed: document.querySelectorAll('.presence-list .person').length,
      more: document.querySelector('.presence-list li.empty')?.textContent,
      button: document.querySelector('.room-list [data-room="crowd"]')?.getAttribute('aria-label'),
    }));
    assert.deepEqual(panel, { listed: 1000, more: 'and 2 more', button: 'crowd, 1002 here' });
  });
});
