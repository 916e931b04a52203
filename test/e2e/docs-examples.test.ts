/**
 * The browser examples of README.md and docs/*.md (marked `<!-- example: browser ... -->`, see
 * test/docs-examples.test.ts for the markers), run in Debian's Chromium against
 * `switchboard serve` of the built package, `localhost:3000` rewritten to its port:
 * - a `js` block is typed into the console of the server's web app page (it runs as the
 *   console runs it); its console output must match every `expect` pattern;
 * - an `html` block is a whole page, served at the server's origin (as docs/client.md says to
 *   serve it), so its `/switchboard-client.js` and `location.origin` are the server's; with
 *   `type="..."`, once the first `expect` pattern shows (the page is ready), that text is typed
 *   into its first text box, then Enter. The page's text and console output must match every
 *   `expect` pattern, and nothing may throw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, skipWithoutBrowser } from './harness.js';
import { DocServers, allExamples, rewriteAddress, where } from '../helpers/doc-examples.js';

const EXPECT_TIMEOUT_MS = 10_000;
const examples = allExamples().filter((e) => e.kind === 'browser');

describe('docs examples in the browser', { skip: skipWithoutBrowser() }, () => {
  const servers = new DocServers();
  let browser: Browser;

  before(async () => {
    // A page fulfilled by page.route has no address of its own, so Chromium's Local Network
    // Access checks take it for a public page and refuse its WebSocket to 127.0.0.1; served for
    // real from the server's origin (what the docs say to do) it is a local page, unchecked.
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-features=LocalNetworkAccessChecks'];
    browser = await chromium.launch({ executablePath: CHROMIUM, args });
  });
  after(async () => {
    await browser?.close();
    await servers.close();
  });

  it('finds the browser examples (the README console line, the page of docs/client.md)', () => {
    assert.ok(examples.some((e) => e.file === 'README.md' && e.lang === 'js'));
    assert.ok(examples.some((e) => e.file === 'docs/client.md' && e.lang === 'html'));
    for (const e of examples) assert.deepEqual(e.problems, [], where(e));
  });

  for (const e of examples) {
    // Its server is started by the first example of its file (DocServers: up to 30 s on a busy machine).
    it(`${where(e)} (${e.lang})`, { timeout: 60_000 }, async () => {
      const server = await servers.get(e.file, e.server);
      const code = rewriteAddress(e.code, server.port);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.setDefaultTimeout(EXPECT_TIMEOUT_MS);
        const logged: string[] = [];
        const errors: string[] = [];
        page.on('console', (m) => logged.push(m.text()));
        page.on('pageerror', (err) => errors.push(err.message));
        const shown = async (): Promise<string> => `${e.lang === 'html' ? await page.innerText('body') : ''}\n${logged.join('\n')}`;
        /** Resolves with what shows once every pattern matches it, or when time is up. */
        const until = async (patterns: RegExp[]): Promise<string> => {
          const deadline = Date.now() + EXPECT_TIMEOUT_MS;
          let text = await shown();
          while (!patterns.every((p) => p.test(text)) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
            text = await shown();
          }
          return text;
        };
        if (e.lang === 'js') {
          await page.goto(`${server.url}/`);
          await page.evaluate(code);
        } else {
          const address = `${server.url}/docs-example-${e.line}.html`;
          await page.route(address, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: code }));
          await page.goto(address);
          if (e.type !== undefined) {
            // Typed once the page is ready for it: when the first pattern shows.
            await until(e.expect.slice(0, 1));
            const box = page.locator('input:not([type]), input[type="text"], textarea').first();
            await box.fill(e.type);
            await box.press('Enter');
          }
        }
        const text = await until(e.expect);
        for (const p of e.expect) assert.match(text, p, `${where(e)}: the page and its console show:\n${text}`);
        assert.deepEqual(errors, [], `${where(e)}: errors thrown in the page`);
      } finally {
        await context.close();
      }
    });
  }
});
