/**
 * `npm run bench:web-feed`: what a busy room costs the web app's page. One server in this process
 * (memory store, the built app from dist/public), Debian's Chromium (playwright-core) with one
 * page in the room over --transport, wire inspector open as on a desktop; --messages posted over
 * HTTP one after another, --gap-ms apart. Every --step messages it prints the CPU that Chromium's
 * processes spent per message (renderer: the page's layout, paint and script; gpu-process: the
 * software compositor; browser), read from /proc, and how long the page took to show the last.
 *
 *   npm run build && npm run bench:web-feed -- --messages 750 --gap-ms 20
 *
 * --second-page adds a reader over short polling (as the switching test has); --wire closed
 * closes the wire inspector. WEB_FEED_CSS adds a style sheet to the page, to try a rule without a
 * build (e.g. WEB_FEED_CSS='.wire-list { display: none }': the inspector open without its rows).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createSwitchboard } from '../src/server/server.js';
import { processTree } from './load/proc-stats.js';
import { REPO_ROOT } from './repo-root.js';

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
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(path.join(REPO_ROOT, 'dist/public/index.html'))) throw new Error('dist/public/index.html is missing: run `npm run build` first');
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);

const TICKS_PER_S = 100;
/** CPU ms of this process's Chromium descendants, by process type (`--type=`, else browser). */
function chromiumCpu(): Map<string, number> {
  const byType = new Map<string, number>();
  for (const pid of processTree(process.pid)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chrom')) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
      const type = /--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser';
      byType.set(type, (byType.get(type) ?? 0) + ms);
    } catch {
      // gone meanwhile
    }
  }
  return byType;
}

const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 1_000_000, rateLimitBurst: 1_000_000 });
const base = `http://127.0.0.1:${await server.listen()}`;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  const room = 'feed';
  if (!(await fetch(`${base}/api/rooms/${room}`, { method: 'PUT' })).ok) throw new Error('could not create the room');
  const open = async (name: string, transport: string): Promise<import('playwright-core').Page> => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.addInitScript((o: { name: string; transport: string }) => {
      localStorage.setItem('switchboard.name', o.name);
      localStorage.setItem('switchboard.transport', o.transport);
      localStorage.setItem('switchboard.pollIntervalMs', '250');
    }, { name, transport });
    const page = await context.newPage();
    await page.goto(`${base}/#/room/${room}`);
    await page.locator('.chat-header .status[data-status="connected"]').waitFor({ timeout: 20_000 });
    return page;
  };
  const page = await open('Reader', values.transport);
  if (values.wire === 'closed') await page.getByRole('button', { name: 'Wire inspector' }).click();
  if ((await page.locator('.chat-layout.wire-open').count()) !== (values.wire === 'closed' ? 0 : 1)) throw new Error(`the wire inspector is not ${values.wire}`);
  if (process.env.WEB_FEED_CSS) await page.addStyleTag({ content: process.env.WEB_FEED_CSS });
  if (values['second-page']) await open('Second', 'polling');
  console.log(`Web feed: ${messages} messages ${gapMs} ms apart to a page over ${values.transport}, wire inspector ${values.wire}${values['second-page'] ? ', a second page over short polling' : ''} (Chromium ${browser.version()})`);
  console.log('messages   renderer   gpu-process   browser   (CPU ms per message)   last shown after');
  let before = chromiumCpu();
  for (let i = 1; i <= messages; i++) {
    const res = await fetch(`${base}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `feed ${i}`, name: 'Feeder', member: 'feeder', clientId: `feed-${i}` }) });
    if (res.status !== 201) throw new Error(`POST ${i}: ${res.status}`);
    if (i % step === 0 || i === messages) {
      const sent = Date.now();
      await page.locator('ol.entries > li.msg .text', { hasText: new RegExp(`^feed ${i}$`) }).waitFor({ timeout: 60_000 });
      const shown = Date.now() - sent;
      const now = chromiumCpu();
      const per = (type: string): string => (((now.get(type) ?? 0) - (before.get(type) ?? 0)) / (i % step || step)).toFixed(1);
      console.log(`${String(i).padStart(8)}   ${per('renderer').padStart(8)}   ${per('gpu-process').padStart(11)}   ${per('browser').padStart(7)}   ${''.padStart(22)}   ${shown} ms`);
      before = chromiumCpu();
    }
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
} finally {
  await browser.close();
  await server.close();
}
