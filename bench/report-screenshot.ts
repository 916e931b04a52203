/**
 * `npx tsx bench/report-screenshot.ts [report.html] [out.png]`: opens the report in headless
 * Chromium (CHROMIUM, default /usr/bin/chromium) and saves a full-page screenshot, so the
 * charts can be looked at without a desktop.
 */
import path from 'node:path';
import { chromium } from 'playwright-core';
import { DEFAULT_REPORT } from './report.js';

const file = path.resolve(process.argv[2] ?? DEFAULT_REPORT);
const out = path.resolve(process.argv[3] ?? file.replace(/\.html$/, '.png'));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`file://${file}`);
  await page.waitForTimeout(500);
  await page.screenshot({ path: out, fullPage: true });
  const charts = await page.locator('canvas').count();
  console.log(`${out}: ${charts} charts${errors.length ? `; page errors: ${errors.join('; ')}` : ''}`);
} finally {
  await browser.close();
}
