/**
 * `npm run bench:web-feed`: what a busy room costs the web app's page. One server in this process
 * (memory store, the built app from dist/public), Debian's Chromium (playwright-core) with one
 * page in the room over --transport, wire inspector open as on a desktop; --messages posted over
 * HTTP one after another, --gap-ms apart. Every --step messages it prints the CPU that Chromium's
 * processes spent per message (renderer: the page's layout, paint and script; gpu-process: the
 * software compositor; browser), read from /proc, how long the page took to show the last, and the
 * page's JavaScript heap after a full GC (Chrome DevTools Protocol; what a long session holds).
 *
 *   npm run build && npm run bench:web-feed -- --messages 750 --gap-ms 20
 *
 * --second-page adds a reader over short polling (as the switching test has); --wire closed
 * closes the wire inspector. WEB_FEED_CSS adds a style sheet to the page, to try a rule without a
 * build (e.g. WEB_FEED_CSS='.wire-list { display: none }': the inspector open without its rows).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRoom, openApp, startHarness, waitForMessage } from '../test/e2e/harness.js';
import type { TransportName } from '../src/protocol/types.js';
import { cpuMsOf, processTree } from './load/proc-stats.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '750' },
    'gap-ms': { type: 'string', default: '20' },
    step: { type: 'string', default: '250' },
    transport: { type: 'string', default: 'websocket' },
    wire: { type: 'string', default: 'open' },
    'second-page': { type: 'boolean', default: false },
  },
});
const messages = Number(values.messages);
const gapMs = Number(values['gap-ms']);
const step = Number(values.step);

/** CPU ms of this process's Chromium descendants so far, by process type (`--type=`, else browser). */
function chromiumCpu(): Map<string, number> {
  const byType = new Map<string, number>();
  for (const pid of processTree(process.pid)) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!cmd.includes('chrom')) continue;
    const type = /--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser';
    byType.set(type, (byType.get(type) ?? 0) + cpuMsOf([pid]));
  }
  return byType;
}

// The browser tests' harness: a server in this process serving dist/public, and Debian's Chromium.
const h = await startHarness({ rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
try {
  const room = 'feed';
  await createRoom(h, room);
  const open = async (name: string, transport: TransportName) => (await openApp(h, { name, transport, pollIntervalMs: 250, hash: `#/room/${room}` })).page;
  const page = await open('Reader', values.transport as TransportName);
  if (values.wire === 'closed') await page.getByRole('button', { name: 'Wire inspector' }).click();
  if ((await page.locator('.chat-layout.wire-open').count()) !== (values.wire === 'closed' ? 0 : 1)) throw new Error(`the wire inspector is not ${values.wire}`);
  if (process.env.WEB_FEED_CSS) await page.addStyleTag({ content: process.env.WEB_FEED_CSS });
  if (values['second-page']) await open('Second', 'polling');
  console.log(`Web feed: ${messages} messages ${gapMs} ms apart to a page over ${values.transport}, wire inspector ${values.wire}${values['second-page'] ? ', a second page over short polling' : ''} (Chromium ${h.browser.version()})`);
  console.log('messages   renderer   gpu-process   browser   (CPU ms per message)   last shown after   JS heap after GC');
  const cdp = await page.context().newCDPSession(page);
  /** The page's JavaScript heap after a full collection, MB. */
  const heapMb = async (): Promise<string> => {
    await cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await cdp.send('Runtime.getHeapUsage');
    return (usedSize / 1e6).toFixed(2);
  };
  let before = chromiumCpu();
  for (let i = 1; i <= messages; i++) {
    const res = await fetch(`${h.base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `feed ${i}`, name: 'Feeder', member: 'feeder', clientId: `feed-${i}` }) });
    if (res.status !== 201) throw new Error(`POST ${i}: ${res.status}`);
    if (i % step === 0 || i === messages) {
      const sent = Date.now();
      await waitForMessage(page, `feed ${i}`, 60_000);
      const shown = Date.now() - sent;
      const now = chromiumCpu();
      const per = (type: string): string => (((now.get(type) ?? 0) - (before.get(type) ?? 0)) / (i % step || step)).toFixed(1);
      const heap = await heapMb(); // after the CPU reading: the collection is the bench's, not the page's
      console.log(`${String(i).padStart(8)}   ${per('renderer').padStart(8)}   ${per('gpu-process').padStart(11)}   ${per('browser').padStart(7)}   ${''.padStart(22)}   ${`${shown} ms`.padStart(16)}   ${heap.padStart(13)} MB`);
      before = chromiumCpu();
    }
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
} finally {
  await h.close();
}
