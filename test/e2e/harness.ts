/**
 * Shared set-up of the browser tests: a real Switchboard in-process (serving the built app from
 * dist/public) and Debian's Chromium through playwright-core.
 *
 * Without /usr/bin/chromium the suites are skipped with a loud warning, except with CI=true,
 * where that is a failure. Without dist/public/index.html they fail: run `npx vite build` first.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, afterEach, before } from 'node:test';
import path from 'node:path';
import { ROOT } from '../fixtures/built.js';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createSwitchboard, type Switchboard, type SwitchboardOptions } from '../../src/server/server.js';
import type { TransportName } from '../../src/protocol/types.js';

/** Debian's Chromium; CHROMIUM_PATH names another build of it (e.g. one unpacked outside /usr). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = ROOT;
const INDEX = path.join(root, 'dist/public/index.html');

/** Labels of the Transport picker, as users see them. */
export const LABELS: Record<TransportName, string> = {
  websocket: 'WebSocket',
  sse: 'Server-Sent Events',
  'long-polling': 'Long polling',
  polling: 'Short polling',
};

/** `skip` option of the suites: a reason to skip, or false to run. */
export function skipWithoutBrowser(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') throw new Error(`browser tests: ${CHROMIUM} not found, and CI=true: install Chromium (apt-get install chromium)`);
  console.warn(`\n${'!'.repeat(72)}\nSKIPPED: browser tests: ${CHROMIUM} not found\n${'!'.repeat(72)}\n`);
  return `${CHROMIUM} not found`;
}

export interface Harness {
  server: Switchboard;
  base: string;
  browser: Browser;
  close(): Promise<void>;
}

/** Starts a server (with `options` over the defaults, e.g. `{ jwtSecret, devLogin: true }`) and Chromium. */
export async function startHarness(options: SwitchboardOptions = {}): Promise<Harness> {
  if (!existsSync(INDEX)) throw new Error(`${INDEX} is missing: build the web app first (npx vite build)`);
  const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', ...options });
  const port = await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  return {
    server,
    base: `http://127.0.0.1:${port}`,
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

export interface AppPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors (a test fails when there are any). */
  errors: string[];
}

export interface OpenOptions {
  /** Display name stored before the page loads (no name: the first-visit dialog shows). */
  name?: string;
  transport?: TransportName;
  pollIntervalMs?: number;
  /** Address after the origin, e.g. `#/room/x` or `#/compare`. */
  hash?: string;
  viewport?: { width: number; height: number };
  /** Wait until the chat is connected (default true when a name is given and hash is not compare). */
  waitConnected?: boolean;
  /** More localStorage items set before the page loads (e.g. `switchboard.token`). */
  localStorage?: Record<string, string>;
}

export async function openApp(h: Harness, options: OpenOptions = {}): Promise<AppPage> {
  const context = await h.browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 } });
  await context.addInitScript((o: { name?: string; transport?: string; poll?: number; items?: Record<string, string> }) => {
    if (sessionStorage.getItem('seeded')) return;
    sessionStorage.setItem('seeded', '1');
    if (o.name) localStorage.setItem('switchboard.name', o.name);
    if (o.transport) localStorage.setItem('switchboard.transport', o.transport);
    if (o.poll) localStorage.setItem('switchboard.pollIntervalMs', String(o.poll));
    for (const [key, value] of Object.entries(o.items ?? {})) localStorage.setItem(key, value);
  }, { name: options.name, transport: options.transport, poll: options.pollIntervalMs, items: options.localStorage });
  const page = await context.newPage();
  // 20 s, not 10: the browser files start first, three at once with their Chromiums, right after
  // the build; on two loaded cores the first click of a cold page once took over 10 s to be
  // acknowledged (CI, `asks for a name on the first visit`, 2026-12-07) and passed alone at once.
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${h.base}/${options.hash ?? ''}`);
  if (options.waitConnected ?? (options.name !== undefined && options.hash !== '#/compare')) await waitConnected(page);
  return { context, page, errors };
}

/** The chat's status pill says connected (over `transport`, when given). */
export async function waitConnected(page: Page, transport?: TransportName): Promise<void> {
  const pill = page.locator('.chat-header .status[data-status="connected"] .status-text');
  await pill.waitFor();
  if (transport) await pill.filter({ hasText: LABELS[transport] }).waitFor();
}

/** Types `text` in the message box and presses Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

/** Texts of the stored messages shown, in order (pending ones excluded). */
export function messageTexts(page: Page): Promise<string[]> {
  return page.locator('ol.entries:not(.pending-entries) > li.msg .text').allTextContents();
}

/** Waits until the stored message `text` shows. */
export async function waitForMessage(page: Page, text: string, timeout = 10_000): Promise<void> {
  await page.locator('ol.entries:not(.pending-entries) > li.msg .text').filter({ hasText: text }).first().waitFor({ timeout });
}

/** Creates a room through the API (each test uses its own room). */
export async function createRoom(h: Harness, room: string): Promise<void> {
  const res = await fetch(`${h.base}/api/rooms/${room}`, { method: 'PUT' });
  if (!res.ok) throw new Error(`PUT room ${room}: ${res.status}`);
}

/** Picks a transport in the "Transport" control and waits until it is in use. */
export async function pickTransport(page: Page, transport: TransportName): Promise<void> {
  await page.getByLabel('Transport', { exact: true }).selectOption({ label: LABELS[transport] });
  await waitConnected(page, transport);
}

/** The harness of one suite (see {@link useHarness}). */
export interface SuiteHarness {
  /** The harness, once the suite's `before` ran. */
  readonly h: Harness;
  /** Opens the app (see {@link openApp}); its page errors are checked when the suite ends. */
  open(options?: OpenOptions, base?: string): Promise<AppPage>;
}

/**
 * Call inside a `describe`: starts a harness before its tests and closes it after them. The pages
 * a test opened are closed when it ends (no test of these suites uses another's page), and the
 * test fails when one of them threw an uncaught error. Left open, a suite's pages all ran to its
 * end, their transports polling and their timers firing beside the next tests' pages.
 */
export function useHarness(options: SwitchboardOptions = {}): SuiteHarness {
  let harness: Harness | undefined;
  let opened: AppPage[] = [];
  const closeOpened = async (): Promise<void> => {
    const apps = opened;
    opened = [];
    await Promise.all(apps.map((app) => app.context.close()));
    for (const app of apps) assert.deepEqual(app.errors, [], 'uncaught errors in a page');
  };
  before(async () => {
    harness = await startHarness(options);
  });
  afterEach(closeOpened);
  after(async () => {
    try {
      await closeOpened();
    } finally {
      await harness?.close();
    }
  });
  return {
    get h(): Harness {
      if (!harness) throw new Error('the harness starts in the suite’s before hook');
      return harness;
    },
    async open(openOptions = {}, base) {
      const h = this.h;
      const app = await openApp(base === undefined ? h : { ...h, base }, openOptions);
      opened.push(app);
      return app;
    },
  };
}

/**
 * Lets a function with inner named functions run in the page: tsx (esbuild, keepNames) wraps
 * each in `__name(fn, "name")`, a helper that exists in Node only.
 */
export async function keepNames(page: Page): Promise<void> {
  await page.evaluate('globalThis.__name ??= (fn) => fn');
}

/** A server a test stops and starts again (`stop`, then `serve(port)` with the port it had): its SQLite file keeps the rooms and the log. */
export interface RestartableServer {
  /** Starts a server on `port` (0: any) over the file; resolves with its port. */
  serve(port: number): Promise<number>;
  /** Stops the running one (a server restart, as the clients see it). */
  stop(): Promise<void>;
  /** Stops it and removes the file: the suite's `after`. */
  close(): Promise<void>;
}

/** A RestartableServer over a SQLite file in a new temporary folder named after `prefix`; closed after the suite. */
export function useRestartableServer(prefix: string): RestartableServer {
  const dataDir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  let server: Switchboard | undefined;
  const restartable: RestartableServer = {
    async serve(port) {
      server = createSwitchboard({ port, host: '127.0.0.1', store: 'sqlite', dataDir, logLevel: 'silent', shutdownTimeoutMs: 500 });
      return server.listen();
    },
    async stop() {
      await server?.close();
      server = undefined;
    },
    async close() {
      await restartable.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  after(() => restartable.close());
  return restartable;
}
