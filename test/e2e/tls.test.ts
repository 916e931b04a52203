/**
 * Why HTTP/2 matters in a browser: over HTTP/1.1 Chromium opens at most six connections per
 * origin, so a page's seventh EventSource waits for one of the first six to end; over HTTP/2 they
 * are streams of one connection. A page of the TLS server opens ten EventSources to ten rooms; one
 * message published into each room reaches every one of them, and the page and its streams went
 * over h2. The same page over plain HTTP/1.1 gets six streams, no more.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import http2, { type ClientHttp2Session, type ServerHttp2Session } from 'node:http2';
import path from 'node:path';
import { ROOT } from '../fixtures/built.js';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createSwitchboard, type Switchboard } from '../../src/server/server.js';
import { makeCertificate, skipWithoutOpenssl, type Certificate } from '../helpers/certificate.js';
import { CHROMIUM, skipWithoutBrowser } from './harness.js';

const INDEX = path.join(ROOT, 'dist/public/index.html');
const ROOMS = Array.from({ length: 10 }, (_, i) => `tls-room-${i}`);

/** In the page: opens an EventSource per room, recording when each is ready and what it gets. */
function openStreams(page: Page, rooms: string[]): Promise<void> {
  return page.evaluate((names) => {
    const w = window as unknown as { ready: string[]; got: Record<string, string[]>; sources: EventSource[] };
    w.ready = [];
    w.got = {};
    w.sources = names.map((room) => {
      const source = new EventSource(`/api/rooms/${room}/events`);
      source.addEventListener('ready', () => w.ready.push(room));
      source.addEventListener('message', (e) => (w.got[room] ??= []).push((JSON.parse((e as MessageEvent<string>).data) as { text: string }).text));
      return source;
    });
  }, rooms);
}

const readyCount = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as { ready: string[] }).ready.length);

describe('browser over HTTPS: ten EventSources on one HTTP/2 connection', { skip: skipWithoutBrowser() || skipWithoutOpenssl() }, () => {
  let files: Certificate;
  let sb: Switchboard;
  let port: number;
  let browser: Browser;
  const sessions: ServerHttp2Session[] = [];
  /** HTTP version of each SSE request the application saw (its onConnect hook). */
  const sseVersions: string[] = [];

  before(async () => {
    if (!existsSync(INDEX)) throw new Error(`${INDEX} is missing: build the web app first (npx vite build)`);
    files = makeCertificate();
    sb = createSwitchboard({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      logLevel: 'silent',
      tlsCert: files.cert,
      tlsKey: files.key,
      hooks: { onConnect: ({ request }) => void (/\/events$/.test((request.url ?? '').split('?')[0]!) && sseVersions.push(request.httpVersion)) },
    });
    port = await sb.listen();
    sb.http.on('session', (s: ServerHttp2Session) => void sessions.push(s));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--ignore-certificate-errors'],
    });
  });
  after(async () => {
    await browser?.close();
    await sb?.close();
    if (files) rmSync(files.dir, { recursive: true, force: true });
  });

  it('the app page and all ten streams go over h2, and each stream gets the message of its room within seconds', { timeout: 30_000 }, async () => {
    const api: ClientHttp2Session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(files.cert) });
    api.on('error', () => {});
    const rest = (method: string, pathname: string, body?: unknown): Promise<number> =>
      new Promise((resolve, reject) => {
        const stream = api.request({ ':method': method, ':path': pathname, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) });
        let status = 0;
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.on('end', () => resolve(status));
        stream.end(body === undefined ? undefined : JSON.stringify(body));
      });
    const context = await browser.newContext();
    try {
      for (const room of ROOMS) assert.equal(await rest('PUT', `/api/rooms/${room}`), 201);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      const loaded = await page.goto(`https://127.0.0.1:${port}/`);
      assert.equal(loaded?.status(), 200, 'the web app, served by the TLS server');
      assert.match((await loaded?.headerValue('content-type')) ?? '', /text\/html/);
      assert.equal(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol), 'h2');

      const sessionsBefore = sessions.length;
      await openStreams(page, ROOMS);
      await page.waitForFunction((n) => (window as unknown as { ready: string[] }).ready.length === n, ROOMS.length, { timeout: 5000 });
      for (const [i, room] of ROOMS.entries()) assert.equal(await rest('POST', `/api/rooms/${room}/messages`, { text: `for ${room}`, clientId: `tls-e2e-${i}` }), 201);
      await page.waitForFunction(
        (names) => names.every((room) => (window as unknown as { got: Record<string, string[]> }).got[room]?.includes(`for ${room}`)),
        ROOMS,
        { timeout: 5000 },
      );
      const got = await page.evaluate(() => (window as unknown as { got: Record<string, string[]> }).got);
      for (const room of ROOMS) assert.deepEqual(got[room], [`for ${room}`], `${room} got its message, and only it`);

      assert.equal(sseVersions.length, ROOMS.length);
      assert.ok(sseVersions.every((v) => v === '2.0'), `the streams' HTTP versions: ${sseVersions.join(', ')}`);
      assert.equal(sessions.length - sessionsBefore, 0, 'no new connection for the ten streams: they share the page’s');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
      api.close();
    }
  });
});

describe('browser over plain HTTP/1.1: the same page gets six streams, no more', { skip: skipWithoutBrowser() }, () => {
  let sb: Switchboard;
  let port: number;
  let browser: Browser;

  before(async () => {
    if (!existsSync(INDEX)) throw new Error(`${INDEX} is missing: build the web app first (npx vite build)`);
    sb = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent' });
    port = await sb.listen();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await sb?.close();
  });

  it('six connections per origin: the seventh EventSource waits', { timeout: 30_000 }, async () => {
    for (const room of ROOMS) assert.ok((await fetch(`http://127.0.0.1:${port}/api/rooms/${room}`, { method: 'PUT' })).ok);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      assert.equal(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol), 'http/1.1');
      await openStreams(page, ROOMS);
      await page.waitForFunction(() => (window as unknown as { ready: string[] }).ready.length >= 6, undefined, { timeout: 5000 });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await readyCount(page), 6, 'Chromium holds the other four back while six are open');
    } finally {
      await context.close();
    }
  });
});
