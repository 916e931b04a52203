/**
 * The abuse suite: what one hostile or broken client can do to a server, each item against a
 * real server on loopback with small limits. Every loop here is bounded in count and in time.
 * Second client addresses are loopback aliases (127.0.0.2, ...); the server listens on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import WebSocket from 'ws';
import { ERRORS, isErrorCode } from '../src/protocol/errors.js';
import type { Entry, PresenceMember } from '../src/protocol/types.js';
import { MemoryPresenceStore } from '../src/server/presence/memory-presence-store.js';
import { mintToken } from '../src/server/auth/mint-token.js';
import { MemoryStore } from '../src/server/store/memory-store.js';
import { WsProbe, h2Request, postJson, request, startServer, waitFor, type HttpAnswer } from './helpers.js';
import { makeCertificate, skipWithoutOpenssl } from './helpers/certificate.js';

type Started = Awaited<ReturnType<typeof startServer>>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

// --- local helpers ----------------------------------------------------------------------------

interface FromInit {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Loopback source address (127.0.0.2, ...): another client address for the server. */
  localAddress?: string;
  /** Idle time after which the request fails (default 15 s). */
  timeoutMs?: number;
}

/**
 * One HTTP request on a connection of its own (no keep-alive agent), optionally from another
 * loopback address. An event stream resolves at its headers (body empty) and is cut: a test that
 * expected a refusal and got a stream fails on its status instead of waiting for an end that never
 * comes. Any answer not whole within `timeoutMs` (default 15 s) rejects, naming the URL.
 */
function httpFrom(url: string, init: FromInit = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false, ...(init.localAddress ? { localAddress: init.localAddress } : {}) },
      (res) => {
        const answer = (body: string): HttpAnswer => ({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown });
        if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          resolve(answer(''));
          req.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve(answer(Buffer.concat(chunks).toString('utf8'))));
      },
    );
    req.setTimeout(init.timeoutMs ?? 15_000, () => req.destroy(new Error(`${init.method ?? 'GET'} ${url}: no whole answer within ${init.timeoutMs ?? 15_000} ms`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** GETs `url` from `address` until an answer is not 200 (at most `most` times); `check` looks at each 200. */
async function askUntilRefused(url: string, address: string, most: number, check?: (r: HttpAnswer) => void): Promise<{ statuses: number[]; refused: HttpAnswer | undefined }> {
  const statuses: number[] = [];
  for (let i = 0; i < most; i++) {
    const r = await httpFrom(url, { localAddress: address });
    statuses.push(r.status);
    if (r.status !== 200) return { statuses, refused: r };
    check?.(r);
  }
  return { statuses, refused: undefined };
}

function jsonFrom(url: string, body: unknown, localAddress?: string): Promise<HttpAnswer> {
  return httpFrom(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, ...(localAddress ? { localAddress } : {}) });
}

function codeOf(a: HttpAnswer): string | undefined {
  try {
    return (a.json() as { code?: string }).code;
  } catch {
    return undefined;
  }
}

/** Milliseconds /healthz takes to answer (a fresh connection each time). */
async function healthMs(url: string): Promise<number> {
  const t = performance.now();
  const r = await httpFrom(`${url}/healthz`);
  const ms = performance.now() - t;
  assert.equal(r.status, 200);
  return ms;
}

/**
 * `/healthz` stayed fast over `latencies` (ms): every probe but one under `boundMs`, and that
 * one under three times it. A server that stops serving others stalls several probes, or one by
 * far; one probe a few milliseconds over, on a machine that four test files load, does not
 * (CI once failed on a single 105.7 ms of 24).
 */
function assertStayedFast(latencies: number[], boundMs: number, when: string): void {
  const sorted = [...latencies].sort((a, b) => b - a);
  const shown = `${latencies.map((l) => l.toFixed(0)).join(', ')} ms; ${latencies.length} probes`;
  assert.ok(latencies.length >= 1, 'probed at least once');
  assert.ok(sorted[0]! < 3 * boundMs, `/healthz took ${sorted[0]!.toFixed(1)} ms ${when} (${shown})`);
  assert.ok((sorted[1] ?? 0) < boundMs, `/healthz took over ${boundMs} ms more than once ${when} (${shown})`);
}

async function historyOf(url: string, room: string): Promise<Entry[]> {
  const r = await httpFrom(`${url}/api/rooms/${room}/messages?limit=500`);
  assert.equal(r.status, 200, r.body);
  return (r.json() as { entries: Entry[] }).entries;
}

async function presenceOf(url: string, room: string): Promise<PresenceMember[]> {
  const r = await httpFrom(`${url}/api/rooms/${room}/presence`);
  assert.equal(r.status, 200, r.body);
  return (r.json() as { members: PresenceMember[] }).members;
}

const joinsIn = (entries: Entry[]): number => entries.filter((e) => e.type === 'join').length;

/** Resolves when the async `check` is true (polled every 20 ms); rejects after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs `f(0..n-1)`, at most `width` at a time. */
async function inBatches<T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => f(i + k)))));
  }
  return out;
}

/** A WebSocket upgrade the server must refuse: its HTTP status, headers and body. Rejects when it is accepted. */
function refusedUpgrade(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade to ${url} (${JSON.stringify(options.headers ?? options.origin ?? '')}) was accepted`));
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        ws.on('error', () => {});
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
  });
}

/** An SSE request: the open response (status 200, kept open and drained) or the refusal with its body. */
interface SseOpen {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  data: string;
  req: http.ClientRequest;
}
function openSse(url: string, localAddress?: string): Promise<SseOpen> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream' }, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      const out: SseOpen = { status: res.statusCode ?? 0, headers: res.headers, body: '', data: '', req };
      res.setEncoding('utf8');
      res.on('error', () => {});
      if (out.status === 200) {
        res.on('data', (c: string) => (out.data += c));
        resolve(out);
        return;
      }
      res.on('data', (c: string) => (out.body += c));
      res.on('end', () => resolve(out));
    });
    req.on('error', reject);
  });
}

/** A WebSocket client that keeps every frame as text (nothing assumed about its shape). */
class RawWs {
  readonly texts: string[] = [];
  readonly ws: WebSocket;
  closeCode: number | undefined;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  constructor(url: string, options: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => this.texts.push(String(data)));
    this.ws.on('error', () => {});
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', () => reject(new Error('upgrade refused')));
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve((this.closeCode = code))));
  }
}

// --- the suite --------------------------------------------------------------------------------

describe('abuse suite', () => {
  it('1. a reader that never reads: answers are bounded, its sockets are cut after writeTimeoutMs, memory stays bounded, /healthz stays fast', async () => {
    const rss0 = process.memoryUsage().rss;
    let rssPeak = rss0;
    const sampleRss = (): void => void (rssPeak = Math.max(rssPeak, process.memoryUsage().rss));
    const maxAnswerBytes = 512 * 1024;
    const s = await startServer({ maxMessageBytes: 65536, maxAnswerBytes, writeTimeoutMs: 1500, rateLimitPerSecond: 1000, rateLimitBurst: 1000 });
    const clients: net.Socket[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      // 60 messages of 60 KiB of U+0001: JSON escapes each as \u0001, so each entry is ~369 KB of JSON.
      const text = '\u0001'.repeat(60 * 1024);
      await inBatches(60, 6, async () => assert.equal((await postJson(`${s.url}/api/rooms/R/messages`, { text })).status, 201));
      sampleRss();

      // (a) A reading client gets at most maxAnswerBytes of entries, and `more`.
      const paths = ['/api/rooms/R/messages?limit=500', '/api/rooms/R/poll?after=0&limit=500'];
      let oneOfEach = 0;
      for (const path of paths) {
        const r = await httpFrom(s.url + path);
        assert.equal(r.status, 200, path);
        const page = r.json() as { entries: Entry[]; more: boolean };
        const bytes = page.entries.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);
        assert.ok(page.entries.length >= 1, `${path}: at least one entry`);
        assert.ok(bytes <= maxAnswerBytes, `${path}: ${bytes} bytes of entries > ${maxAnswerBytes}`);
        assert.ok(Buffer.byteLength(r.body) <= maxAnswerBytes + 4096, `${path}: the answer is ${Buffer.byteLength(r.body)} bytes`);
        assert.equal(page.more, true, `${path}: more`);
        oneOfEach += Buffer.byteLength(r.body);
      }

      // (b) Six raw sockets pipeline these requests and never read. Eight pairs each (~5.9 MB of
      // answers): one pair (~0.74 MB) fits whole in the kernel's loopback socket buffers, after
      // which the server has nothing left to write and the socket is an idle keep-alive
      // connection (held for keepAliveTimeout, 65 s), to the server no different from a client
      // that read everything. With more than the buffers hold, the server's writes really stall,
      // which is what writeTimeoutMs is for.
      const pairs = 8;
      const pipelined = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('').repeat(pairs);
      const fullBytes = pairs * oneOfEach;
      const serverSockets: net.Socket[] = [];
      const onConnection = (so: net.Socket): void => void serverSockets.push(so);
      s.server.http.on('connection', onConnection);
      const opened = performance.now();
      for (let i = 0; i < 6; i++) {
        const so = net.connect({ port: s.port, host: '127.0.0.1' });
        so.pause();
        so.on('error', () => {});
        so.write(pipelined);
        clients.push(so);
      }
      await waitFor(() => serverSockets.length === 6, 3000, 'six server sockets');
      s.server.http.off('connection', onConnection);
      const stalled = [...serverSockets];

      // (d) /healthz answers fast while they hang.
      await sleep(300);
      const latencies: number[] = [];
      for (let i = 0; i < 5; i++) {
        latencies.push(await healthMs(s.url));
        sampleRss();
        await sleep(50);
      }
      assertStayedFast(latencies, 100, 'while the readers hung');
      assert.ok(
        stalled.some((so) => so.writableLength > 0 || so.destroyed),
        'the server had answers it could not hand to the non-reading sockets (else this test proves nothing)',
      );

      // The server destroys the stalled sockets within a few seconds of the stall.
      const deadline = performance.now() + 6000;
      while (!stalled.every((so) => so.destroyed) && performance.now() < deadline) {
        sampleRss();
        await sleep(50);
      }
      const cutAfter = performance.now() - opened;
      assert.ok(stalled.every((so) => so.destroyed), `${stalled.filter((so) => !so.destroyed).length} of 6 non-reading sockets still open after ${cutAfter.toFixed(0)} ms`);
      // The client side sees the close once it looks (its FIN is queued behind the unread bytes):
      // it gets less than the full answers, then 'close'.
      const received = await Promise.all(
        clients.map(
          (so) =>
            new Promise<number>((resolve, reject) => {
              let n = 0;
              const t = setTimeout(() => reject(new Error('a cut socket did not close on the client side within 3 s')), 3000);
              so.on('data', (c: Buffer) => (n += c.length));
              so.once('close', () => {
                clearTimeout(t);
                resolve(n);
              });
              so.resume();
            }),
        ),
      );
      for (const n of received) assert.ok(n < fullBytes, `a client got ${n} of ${fullBytes} bytes: it was not cut`);

      // (c) Memory stays bounded.
      sampleRss();
      assert.ok(rssPeak - rss0 < 150 * MB, `RSS grew by ${((rssPeak - rss0) / MB).toFixed(0)} MB`);
      assert.ok((await healthMs(s.url)) < 100);
    } finally {
      for (const so of clients) so.destroy();
      await s.server.close();
    }
  });

  it('1b. a non-reading socket that pipelines 1,000 GETs in one write costs bounded memory', async () => {
    const maxAnswerBytes = 512 * 1024;
    const s = await startServer({ maxMessageBytes: 65536, maxAnswerBytes, writeTimeoutMs: 1500, rateLimitPerSecond: 1000, rateLimitBurst: 1000 });
    const clients: net.Socket[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const text = '\u0001'.repeat(60 * 1024);
      for (let i = 0; i < 4; i++) assert.equal((await postJson(`${s.url}/api/rooms/R/messages`, { text })).status, 201);
      await sleep(100);
      const rss0 = process.memoryUsage().rss;
      let rssPeak = rss0;
      // Each answer is one ~369 KB entry (the byte budget), so 1,000 pipelined requests (~57 KB
      // sent in one write) ask for ~369 MB of answers. A server that answers every pipelined
      // request before the first is read holds them all.
      const pipelined = ['/api/rooms/R/messages?limit=500', '/api/rooms/R/poll?after=0&limit=500']
        .map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`)
        .join('')
        .repeat(500);
      let serverSide: net.Socket | undefined;
      s.server.http.once('connection', (so: net.Socket) => (serverSide = so));
      const so = net.connect({ port: s.port, host: '127.0.0.1' });
      so.pause();
      so.on('error', () => {});
      so.write(pipelined);
      clients.push(so);
      const started = performance.now();
      const latencies: number[] = [];
      // Until the server cuts the socket (write timeout), at most 8 s.
      while (!serverSide?.destroyed && performance.now() - started < 8000) {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        latencies.push(await healthMs(s.url));
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        await sleep(50);
      }
      const cutAfter = performance.now() - started;
      assert.ok(serverSide?.destroyed, `the non-reading socket is still open after ${cutAfter.toFixed(0)} ms`);
      assert.ok(rssPeak - rss0 < 150 * MB, `RSS grew by ${((rssPeak - rss0) / MB).toFixed(0)} MB for one socket that sent ${(pipelined.length / 1024).toFixed(0)} KB`);
      // Node parses the whole chunk of 1,000 requests whatever the server does (~100 ms on a busy
      // machine); answering all of them (re-encoding ~369 MB of JSON) blocks for most of a second.
      assert.ok(Math.max(...latencies) < 300, `/healthz took up to ${Math.max(...latencies).toFixed(1)} ms`);
    } finally {
      for (const so of clients) so.destroy();
      await s.server.close();
    }
  });

  it('2. a subscribe flood on one WebSocket: budgets hold, the room cap holds, /healthz stays fast, the connection still answers', async () => {
    const maxRooms = 100;
    const createRate = 2; // burst 20
    const maxSubs = 30;
    const s = await startServer({ maxRooms, createRatePerSecond: createRate, subscribeRatePerSecond: 40, maxSubscriptionsPerConnection: maxSubs });
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    try {
      await ws.opened;
      await ws.next('welcome');
      const roomsBefore = (await s.server.hub.store.countRooms());
      const N = 10_000;
      const latencies: number[] = [];
      let maxCount = 0;
      let done = false;
      const started = performance.now();
      for (let i = 0; i < N; i++) ws.ws.send(`{"type":"subscribe","room":"r${i}","create":true}`);
      const probe = (async () => {
        const stop = performance.now() + 30_000;
        while (!done && performance.now() < stop) {
          latencies.push(await healthMs(s.url));
          maxCount = Math.max(maxCount, (await s.server.hub.store.countRooms()));
          await sleep(50);
        }
      })();
      const answered = (): number => ws.of('subscribed').length + ws.of('error').length;
      try {
        await waitFor(() => answered() >= N, 30_000, `${N} answers`);
      } finally {
        done = true;
        await probe;
      }
      const elapsed = (performance.now() - started) / 1000;
      const rooms = (await s.server.hub.store.listRooms({ limit: 1_000_000 })).rooms.filter((r) => /^r\d+$/.test(r.name)).length;
      maxCount = Math.max(maxCount, (await s.server.hub.store.countRooms()));
      const codes = new Set(ws.of('error').map((f) => f.code));
      assert.ok(rooms <= createRate * 10 + Math.ceil(createRate * elapsed), `${rooms} rooms created in ${elapsed.toFixed(2)} s`);
      assert.ok(maxCount <= maxRooms, `the store held ${maxCount} rooms`);
      assert.ok(roomsBefore + rooms <= maxRooms);
      assert.deepEqual([...codes].filter((c) => c !== 'RATE_LIMITED' && c !== 'TOO_MANY_SUBSCRIPTIONS'), [], 'only budget errors');
      assert.ok(codes.has('RATE_LIMITED'));
      assert.ok(ws.of('subscribed').length <= maxSubs, `${ws.of('subscribed').length} subscriptions`);
      assert.ok(s.server.hub.subscriberCount <= maxSubs);
      assert.equal(answered(), N, 'every frame answered once');
      ws.send({ type: 'ping', id: 'after-flood' });
      await ws.next('pong', (f) => f.id === 'after-flood', 5000);
      // The subscription cap: rooms made by another address, subscribed once the budget refilled.
      for (let i = 0; i < 20; i++) assert.equal((await httpFrom(`${s.url}/api/rooms/x${i}`, { method: 'PUT', localAddress: '127.0.0.2' })).status, 201);
      await sleep(1000);
      const had = ws.of('subscribed').length;
      for (let i = 0; i < 20; i++) ws.send({ type: 'subscribe', id: `x${i}`, room: `x${i}` });
      await waitFor(() => ws.frames.filter((f) => typeof f.id === 'string' && /^x\d+$/.test(f.id)).length >= 20, 5000, '20 answers');
      const capped = ws.of('error').filter((f) => typeof f.id === 'string' && /^x\d+$/.test(f.id));
      assert.equal(ws.of('subscribed').length, Math.min(maxSubs, had + 20), 'subscribed up to the cap');
      assert.equal(capped.length, Math.max(0, 20 - (maxSubs - had)));
      assert.ok(capped.length > 0, 'the cap was reached');
      for (const e of capped) assert.equal(e.code, 'TOO_MANY_SUBSCRIPTIONS');
      assert.equal(s.server.hub.subscriberCount, maxSubs);
      // Last, so that every other property is checked first: the server must keep serving others during the flood.
      assertStayedFast(latencies, 100, 'during the flood');
    } finally {
      ws.close();
      await s.server.close();
    }
  });

  it('3. anonymous GETs write nothing to presence or the log; only a signed presence ticket counts', async () => {
    const s = await startServer({ longPollTimeoutMs: 100, presenceGraceMs: 100, presenceEntries: true });
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const joinsR = joinsIn(await historyOf(s.url, 'R'));
      const joinsLobby = joinsIn(await historyOf(s.url, 'lobby'));
      // 500 short polls, each claiming a fresh connection and member.
      await inBatches(500, 50, async (i) => {
        const r = await httpFrom(`${s.url}/api/rooms/R/poll?connection=c${i}-${randomUUID()}&member=m${i}-${randomUUID().slice(0, 8)}&name=n${i}`);
        assert.equal(r.status, 200, r.body);
      });
      // Long polls likewise, and the lecture's polls with a fresh, unsigned sb_guest cookie each.
      await inBatches(20, 20, async (i) => assert.equal((await httpFrom(`${s.url}/api/rooms/R/longpoll?timeout=0&connection=lp${i}&member=lpm${i}`)).status, 200));
      const randomCookie = (): string => `sb_guest=${randomBytes(24).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      await inBatches(200, 50, async () => {
        const r = await httpFrom(`${s.url}/poll`, { headers: { cookie: randomCookie() } });
        assert.ok(r.status === 204 || r.status === 200, `lecture /poll: ${r.status}`);
      });
      await inBatches(20, 20, async () => {
        const r = await httpFrom(`${s.url}/longpoll`, { headers: { cookie: randomCookie() } });
        assert.ok(r.status === 408 || r.status === 200, `lecture /longpoll: ${r.status}`);
      });
      await sleep(200);
      assert.equal(joinsIn(await historyOf(s.url, 'R')), joinsR, 'GETs wrote join entries in R');
      assert.equal(joinsIn(await historyOf(s.url, 'lobby')), joinsLobby, 'the lecture polls wrote join entries in lobby');
      assert.deepEqual(await presenceOf(s.url, 'R'), []);
      assert.deepEqual(await presenceOf(s.url, 'lobby'), []);

      // A presence join returns a ticket; polls carrying it keep that one member present.
      const joined = await httpFrom(`${s.url}/api/rooms/R/presence?member=alice&name=Alice`, { method: 'POST' });
      assert.equal(joined.status, 201, joined.body);
      const ticket = (joined.json() as { session: string }).session;
      assert.equal(typeof ticket, 'string');
      for (let i = 0; i < 3; i++) assert.equal((await httpFrom(`${s.url}/api/rooms/R/poll?session=${encodeURIComponent(ticket)}&member=alice`)).status, 200);
      await eventually(async () => joinsIn(await historyOf(s.url, 'R')) > joinsR, 3000, 'the join entry');
      await sleep(200);
      const afterJoin = await historyOf(s.url, 'R');
      assert.equal(joinsIn(afterJoin) - joinsR, 1, 'exactly one join');
      assert.equal(afterJoin.filter((e) => e.type === 'join').at(-1)?.from.member, 'alice');
      assert.deepEqual((await presenceOf(s.url, 'R')).map((m) => m.member), ['alice']);

      // The lecture's poller: its first poll gets a signed cookie; a poll with it counts (one join).
      const first = await httpFrom(`${s.url}/poll`);
      const setCookie = ([] as string[]).concat(first.headers['set-cookie'] ?? []);
      const guest = setCookie.map((c) => c.split(';')[0]!).find((c) => c.startsWith('sb_guest='));
      assert.ok(guest, 'a signed sb_guest cookie');
      await sleep(100);
      assert.equal(joinsIn(await historyOf(s.url, 'lobby')), joinsLobby, 'issuing the cookie is no join');
      assert.ok([200, 204].includes((await httpFrom(`${s.url}/poll`, { headers: { cookie: guest! } })).status));
      await eventually(async () => joinsIn(await historyOf(s.url, 'lobby')) > joinsLobby, 3000, 'the lecture poller\'s join entry');
      await sleep(200);
      assert.equal(joinsIn(await historyOf(s.url, 'lobby')) - joinsLobby, 1, 'the poll with the signed cookie joined once');

      // Forged and altered tickets are refused.
      const [payload, sig] = ticket.split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
      claims[2] = 'mallory';
      const otherPayload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      // A middle character (every one of its bits counts; the last one's low bits are padding).
      const flipped = sig.slice(0, 5) + (sig[5] === 'A' ? 'B' : 'A') + sig.slice(6);
      const lobbyTicket = ((await httpFrom(`${s.url}/api/rooms/lobby/presence?member=bob`, { method: 'POST' })).json() as { session: string }).session;
      for (const bad of ['forged.ticket', `${otherPayload}.${sig}`, `${payload}.${flipped}`, `${payload}.`, payload, lobbyTicket, 'x'.repeat(2000)]) {
        const r = await httpFrom(`${s.url}/api/rooms/R/poll?session=${encodeURIComponent(bad)}`);
        assert.equal(r.status, 400, `ticket ${bad.slice(0, 40)}: ${r.status} ${r.body}`);
        assert.equal(codeOf(r), 'INVALID_SESSION');
      }
      await sleep(100);
      assert.equal(joinsIn(await historyOf(s.url, 'R')) - joinsR, 1, 'no join from a forged ticket');
      assert.ok(!(await presenceOf(s.url, 'R')).some((m) => m.member === 'mallory'));
    } finally {
      await s.server.close();
    }
  });

  it('4. clientId squatting: another sender cannot claim or block a clientId; the same sender cannot reuse one for another text', async () => {
    const s = await startServer();
    const sockets: WsProbe[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const url = `${s.url}/api/rooms/R/messages`;
      const evil = await postJson(url, { text: 'evil', clientId: 'c1', member: 'mallory' });
      assert.equal(evil.status, 201, evil.body);
      const evilAck = evil.json() as { seq: number };
      const carol = await postJson(url, { text: 'hello', clientId: 'c1', member: 'carol' });
      assert.equal(carol.status, 201, carol.body);
      const carolAck = carol.json() as { seq: number; duplicate: boolean };
      assert.notEqual(carolAck.seq, evilAck.seq);
      assert.equal(carolAck.duplicate, false);
      const stored = (await historyOf(s.url, 'R')).find((e) => e.seq === carolAck.seq);
      assert.equal(stored?.type === 'message' ? stored.text : undefined, 'hello');
      assert.equal(stored?.from.member, 'carol');
      // The same sender: a retry is recognised, another text with the same clientId is a conflict.
      const retry = await postJson(url, { text: 'evil', clientId: 'c1', member: 'mallory' });
      assert.equal(retry.status, 200);
      assert.equal((retry.json() as { seq: number; duplicate: boolean }).seq, evilAck.seq);
      const conflict = await postJson(url, { text: 'evil, edited', clientId: 'c1', member: 'mallory' });
      assert.equal(conflict.status, 409, conflict.body);
      assert.equal(codeOf(conflict), 'CLIENT_ID_CONFLICT');
      const carolRetry = await postJson(url, { text: 'hello', clientId: 'c1', member: 'carol' });
      assert.equal(carolRetry.status, 200);
      assert.equal((carolRetry.json() as { seq: number }).seq, carolAck.seq);
      // Anonymous one-request clients of two addresses are two senders.
      const a1 = await jsonFrom(url, { text: 'from one', clientId: 'anon-1' });
      const a2 = await jsonFrom(url, { text: 'from two', clientId: 'anon-1' }, '127.0.0.2');
      assert.equal(a1.status, 201, a1.body);
      assert.equal(a2.status, 201, a2.body);

      // Over WebSocket.
      const m = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=mallory-ws`);
      const c = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=carol-ws`);
      sockets.push(m, c);
      await Promise.all([m.opened, c.opened]);
      m.send({ type: 'publish', id: 'm1', room: 'R', text: 'evil', clientId: 'w1' });
      const mAck = await m.next('ack', (f) => f.id === 'm1');
      c.send({ type: 'publish', id: 'c1', room: 'R', text: 'hello', clientId: 'w1' });
      const cAck = await c.next('ack', (f) => f.id === 'c1');
      assert.notEqual(cAck.seq, mAck.seq);
      assert.equal(cAck.duplicate, false);
      assert.equal((await historyOf(s.url, 'R')).find((e) => e.seq === cAck.seq && e.type === 'message' && e.text === 'hello') !== undefined, true);
      m.send({ type: 'publish', id: 'm2', room: 'R', text: 'evil again', clientId: 'w1' });
      assert.equal((await m.next('error', (f) => f.id === 'm2')).code, 'CLIENT_ID_CONFLICT');
      m.send({ type: 'publish', id: 'm3', room: 'R', text: 'evil', clientId: 'w1' });
      const mRetry = await m.next('ack', (f) => f.id === 'm3');
      assert.equal(mRetry.seq, mAck.seq);
      assert.equal(mRetry.duplicate, true);
    } finally {
      for (const p of sockets) p.close();
      await s.server.close();
    }
  });

  it('5. rotating member ids does not escape the budgets of an address; other addresses are not starved; refusals are visible', async () => {
    const rate = 5;
    const burst = 5;
    const typingRate = 2; // burst 4
    const s = await startServer({ rateLimitPerSecond: rate, rateLimitBurst: burst, typingRatePerSecond: typingRate });
    const probes: WsProbe[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      // HTTP publishes, a random member each, one address.
      let t0 = performance.now();
      const pubs = await Promise.all(Array.from({ length: 30 }, (_, i) => jsonFrom(`${s.url}/api/rooms/R/messages`, { text: `rot ${i}`, member: `m-${randomUUID().slice(0, 12)}` })));
      let elapsed = (performance.now() - t0) / 1000;
      const accepted = pubs.filter((r) => r.status === 201).length;
      assert.ok(accepted >= 1 && accepted <= burst + Math.ceil(rate * elapsed), `${accepted} publishes accepted in ${elapsed.toFixed(2)} s`);
      for (const r of pubs.filter((r) => r.status !== 201)) {
        assert.equal(r.status, 429, r.body);
        assert.equal(codeOf(r), 'RATE_LIMITED');
        assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
      }
      // Typing likewise (its own budget).
      t0 = performance.now();
      const typing = await Promise.all(
        Array.from({ length: 20 }, () =>
          httpFrom(`${s.url}/api/rooms/R/typing`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ member: `t-${randomUUID().slice(0, 12)}`, name: 'T' }) }),
        ),
      );
      elapsed = (performance.now() - t0) / 1000;
      const typed = typing.filter((r) => r.status === 204).length;
      assert.ok(typed >= 1 && typed <= typingRate * 2 + Math.ceil(typingRate * elapsed), `${typed} typing notices accepted in ${elapsed.toFixed(2)} s`);
      for (const r of typing.filter((r) => r.status !== 204)) {
        assert.equal(r.status, 429, r.body);
        assert.equal(codeOf(r), 'RATE_LIMITED');
        assert.ok(Number(r.headers['retry-after']) >= 1);
      }

      // Ten WebSockets of one address (each a different member) share one budget.
      const address = '127.0.0.4';
      for (let i = 0; i < 10; i++) probes.push(new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=ws-${i}-${randomUUID().slice(0, 8)}`, { localAddress: address }));
      await Promise.all(probes.map((p) => p.opened));
      t0 = performance.now();
      for (const [i, p] of probes.entries()) for (let k = 0; k < 10; k++) p.send({ type: 'publish', id: `p${k}`, room: 'R', text: `ws ${i}.${k}` });
      await waitFor(() => probes.every((p) => p.of('ack').length + p.of('error').length >= 10), 10_000, '100 answers');
      elapsed = (performance.now() - t0) / 1000;
      const acks = probes.reduce((n, p) => n + p.of('ack').length, 0);
      assert.ok(acks >= 1 && acks <= burst + Math.ceil(rate * elapsed), `${acks} WebSocket publishes accepted in ${elapsed.toFixed(2)} s`);
      for (const p of probes) for (const e of p.of('error')) assert.equal(e.code, 'RATE_LIMITED');
      // Another address still publishes.
      const other = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`, { localAddress: '127.0.0.2' });
      probes.push(other);
      await other.opened;
      other.send({ type: 'publish', id: 'o', room: 'R', text: 'calm' });
      await other.next('ack', (f) => f.id === 'o');
      assert.equal((await jsonFrom(`${s.url}/api/rooms/R/messages`, { text: 'calm too' }, '127.0.0.3')).status, 201);

      // The lecture's WebSocket: a refused message comes back as a visible error frame, never silence.
      const lecture = new WebSocket(`ws://127.0.0.1:${s.port}/`, { localAddress: '127.0.0.5' });
      const frames: { text?: string; code?: string }[] = [];
      lecture.on('message', (d) => frames.push(JSON.parse(String(d)) as { text?: string; code?: string }));
      await new Promise<void>((resolve, reject) => {
        lecture.once('open', () => resolve());
        lecture.once('error', reject);
      });
      try {
        await waitFor(() => frames.length >= 1, 2000, 'welcome');
        lecture.send('warm-up');
        await waitFor(() => frames.some((f) => f.text === 'warm-up'), 2000, 'the echo of the first message');
        for (let i = 0; i < 15; i++) lecture.send(`burst ${i}`);
        const echoes = (): number => frames.filter((f) => f.text?.startsWith('burst ')).length;
        const errors = (): { text?: string; code?: string }[] => frames.filter((f) => f.code !== undefined);
        await waitFor(() => echoes() + errors().length >= 15, 5000, 'an answer to each of 15 messages');
        assert.ok(errors().length >= 1, 'some were refused');
        assert.ok(echoes() <= burst, `${echoes()} echoed`);
        for (const e of errors()) {
          assert.equal(e.code, 'RATE_LIMITED');
          assert.ok(e.text?.startsWith('error:'), `error frame text: ${e.text}`);
        }
      } finally {
        lecture.close();
      }
    } finally {
      for (const p of probes) p.close();
      await s.server.close();
    }
  });

  it('6a. one address cannot take every connection: past maxConnectionsPerAddress SSE streams get 429 with Retry-After, another address still connects', async () => {
    const s = await startServer({ maxConnections: 100, maxConnectionsPerAddress: 20 });
    const streams: SseOpen[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const answers = await Promise.all(Array.from({ length: 30 }, () => openSse(`${s.url}/api/rooms/R/events`)));
      streams.push(...answers);
      const open = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      assert.equal(open.length, 20);
      assert.equal(refused.length, 10);
      for (const r of refused) {
        assert.equal(r.status, 429, r.body);
        assert.equal((JSON.parse(r.body) as { code: string }).code, 'TOO_MANY_CONNECTIONS_FROM_YOU');
        assert.ok(Number(r.headers['retry-after']) >= 1, `Retry-After: ${r.headers['retry-after']}`);
      }
      assert.equal(s.server.context.limits.openFrom('127.0.0.1'), 20);
      // Another address still gets in (the server itself is far from its cap: not 503).
      const other = await openSse(`${s.url}/api/rooms/R/events`, '127.0.0.2');
      streams.push(other);
      assert.equal(other.status, 200, other.body);
      await waitFor(() => s.server.context.connections.size === 21, 2000, '21 open connections');
      for (const st of streams) st.req.destroy();
      await waitFor(() => s.server.context.connections.size === 0, 3000, 'the streams to be released');
      assert.equal(s.server.context.limits.openFrom('127.0.0.1'), 0);
    } finally {
      for (const st of streams) st.req.destroy();
      await s.server.close();
    }
  });

  it('6b. slowloris: senders of a partial request line or headers are closed by the server within ~3 s (headersTimeoutMs 1000)', async () => {
    const s = await startServer({ headersTimeoutMs: 1000 });
    const slow: net.Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    const serverSide: net.Socket[] = [];
    const onConnection = (so: net.Socket): void => void (so.remoteAddress === '127.0.0.3' && serverSide.push(so));
    s.server.http.on('connection', onConnection);
    try {
      // 20 sockets dribble a request line or headers, a byte every 100 ms, never finishing. Half
      // are polite (they read, and close when the server does); half are hostile: they read but
      // ignore the server's FIN (allowHalfOpen) and keep dribbling, as a slowloris tool does.
      const closedAfter: (number | undefined)[] = new Array(20).fill(undefined);
      const started = performance.now();
      for (let i = 0; i < 20; i++) {
        const text = i % 2 === 0 ? `GET /api/rooms/R/messages?${'a'.repeat(80)}` : `GET /api/rooms/R/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ${'b'.repeat(80)}`;
        const hostile = i % 4 >= 2;
        const so = net.connect({ port: s.port, host: '127.0.0.1', localAddress: '127.0.0.3', allowHalfOpen: hostile });
        so.on('error', () => {});
        so.on('data', () => {});
        so.on('close', () => (closedAfter[i] = performance.now() - started));
        let pos = 0;
        const timer = setInterval(() => {
          if (so.destroyed || !so.writable || pos >= text.length) return clearInterval(timer);
          so.write(text[pos++]!);
        }, 100);
        timers.push(timer);
        slow.push(so);
      }
      await waitFor(() => serverSide.length === 20, 3000, '20 server sockets');
      const deadline = performance.now() + 6000;
      while ((closedAfter.some((t) => t === undefined) || serverSide.some((so) => !so.destroyed)) && performance.now() < deadline) await sleep(50);
      const openServerSide = serverSide.filter((so) => !so.destroyed).length;
      const stillOpen = closedAfter.map((t, i) => (t === undefined ? i : -1)).filter((i) => i >= 0);
      const worst = Math.max(...closedAfter.map((t) => t ?? Infinity));
      assert.equal(openServerSide, 0, `${openServerSide} of 20 slow sockets still open on the server after 6 s (client sockets still open: ${stillOpen.join(', ')}; hostile ones are those with i % 4 >= 2)`);
      assert.ok(worst <= 3500, `slow senders closed after up to ${worst.toFixed(0)} ms`);
      assert.ok((await healthMs(s.url)) < 100);
    } finally {
      s.server.http.off('connection', onConnection);
      for (const t of timers) clearInterval(t);
      for (const so of slow) so.destroy();
      await s.server.close();
    }
  });

  it('7b. one client cannot take the room cap: --rooms-per-day bounds what one address creates, over HTTP and WebSocket; another address and the API key still create', async () => {
    const perDay = 5;
    const s = await startServer({ maxRooms: 100, createRatePerSecond: 1000, roomsPerDay: perDay });
    const keyed = await startServer({ maxRooms: 100, createRatePerSecond: 1000, roomsPerDay: 2, apiKey: 'the-api-key-of-this-test' });
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    try {
      const made = await Promise.all(Array.from({ length: perDay }, (_, i) => httpFrom(`${s.url}/api/rooms/mine-${i}`, { method: 'PUT' })));
      assert.deepEqual(made.map((a) => a.status), Array(perDay).fill(201));
      const refused = await httpFrom(`${s.url}/api/rooms/one-more`, { method: 'PUT' });
      assert.equal(refused.status, 429);
      assert.equal(codeOf(refused), 'RATE_LIMITED');
      // The catalog's words fit every budget (they said "Too many messages" for a room too).
      assert.match((refused.json() as { message: string }).message, /^Too many requests: slow down: at most 5 rooms a day from one address/);
      // The next room comes back a fifth of a day later.
      assert.ok(Number(refused.headers['retry-after']) > 86_400 / perDay - 60, `Retry-After: ${refused.headers['retry-after']}`);
      // A subscribe that would create is refused the same way; an existing room is still joined.
      await ws.opened;
      await ws.next('welcome');
      ws.ws.send(JSON.stringify({ type: 'subscribe', room: 'ws-room', create: true }));
      assert.equal((await ws.next('error')).code, 'RATE_LIMITED');
      ws.ws.send(JSON.stringify({ type: 'subscribe', room: 'mine-0' }));
      await ws.next('subscribed', (f) => f.room === 'mine-0');
      assert.equal((await httpFrom(`${s.url}/api/rooms/one-more`, { method: 'PUT', localAddress: '127.0.0.2' })).status, 201, 'another address has its own day');
      // The API key is the operator's own: not bounded by the day's quota.
      for (let i = 0; i < 4; i++) {
        const a = await httpFrom(`${keyed.url}/api/rooms/app-${i}`, { method: 'PUT', headers: { authorization: 'Bearer the-api-key-of-this-test' } });
        assert.equal(a.status, 201, `room ${i} made with the API key: ${a.body}`);
      }
    } finally {
      ws.ws.close();
      await keyed.server.close();
      await s.server.close();
    }
  });

  it('7c. an IPv6 host counts as its /64: sending from the next address of its /64 refills no budget of an address (HTTP and WebSocket, behind --trust-proxy); IPv4 written as IPv6 is its IPv4 address', async () => {
    const s = await startServer({ maxRooms: 100, createRatePerSecond: 1000, roomsPerDay: 3, trustProxy: true });
    const from = (address: string): Record<string, string> => ({ 'x-forwarded-for': address });
    const create = (room: string, address: string): Promise<HttpAnswer> => httpFrom(`${s.url}/api/rooms/${room}`, { method: 'PUT', headers: from(address) });
    try {
      // One host's /64, a new address for every request (a client picks any of 2^64): before, each had a day of its own.
      const made = [];
      for (let i = 1; i <= 4; i++) made.push((await create(`v6-${i}`, `2001:db8:1:2::${i.toString(16)}`)).status);
      assert.deepEqual(made, [201, 201, 201, 429]);
      assert.equal((await create('v6-long', '2001:0db8:0001:0002:ffff:eeee:dddd:cccc')).status, 429, 'the same /64 written in full');
      const probe = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`, { headers: from('2001:db8:1:2:abcd::1') });
      try {
        await probe.opened;
        await probe.next('welcome');
        probe.ws.send(JSON.stringify({ type: 'subscribe', room: 'v6-ws', create: true }));
        assert.equal((await probe.next('error')).code, 'RATE_LIMITED', 'over WebSocket too');
      } finally {
        probe.close();
      }
      assert.equal((await create('other-64', '2001:db8:1:3::1')).status, 201, 'the next /64 is another host');
      // IPv4 clients written as IPv6 (a dual-stack listener, a proxy) stay one per IPv4 address.
      for (let i = 1; i <= 3; i++) assert.equal((await create(`v4-${i}`, '::ffff:10.0.0.1')).status, 201);
      assert.equal((await create('v4-4', '10.0.0.1')).status, 429, '::ffff:10.0.0.1 is 10.0.0.1');
      assert.equal((await create('v4-other', '::ffff:10.0.0.2')).status, 201, 'another IPv4 address');
    } finally {
      await s.server.close();
    }
  });

  it('7. the room cap is atomic: 300 concurrent creations from several addresses fill it exactly, WebSocket creations cannot pass it', async () => {
    const maxRooms = 50;
    const s = await startServer({ maxRooms, createRatePerSecond: 1000 });
    const probes: WsProbe[] = [];
    try {
      const before = (await s.server.hub.store.countRooms()); // the default room (lobby) takes one place
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => httpFrom(`${s.url}/api/rooms/r${i}`, { method: 'PUT', localAddress: `127.0.0.${1 + (i % 6)}` })));
      const created = answers.filter((a) => a.status === 201).length;
      const limited = answers.filter((a) => a.status === 409 && codeOf(a) === 'ROOM_LIMIT').length;
      assert.equal(created, maxRooms - before, `${created} created`);
      assert.equal(limited, 300 - created, `${limited} refused with ROOM_LIMIT; other answers: ${JSON.stringify(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => a.status))}`);
      assert.equal((await s.server.hub.store.countRooms()), maxRooms);
      // A WebSocket burst of creations from three addresses.
      for (let k = 0; k < 3; k++) probes.push(new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`, { localAddress: `127.0.0.${2 + k}` }));
      await Promise.all(probes.map((p) => p.opened));
      for (const [k, p] of probes.entries()) for (let i = 0; i < 50; i++) p.ws.send(`{"type":"subscribe","room":"w${k}-${i}","create":true}`);
      await waitFor(() => probes.every((p) => p.of('subscribed').length + p.of('error').length >= 50), 10_000, '150 answers');
      for (const p of probes) {
        assert.equal(p.of('subscribed').length, 0);
        for (const e of p.of('error')) assert.ok(e.code === 'ROOM_LIMIT' || e.code === 'RATE_LIMITED', String(e.code));
      }
      assert.equal((await s.server.hub.store.countRooms()), maxRooms);
    } finally {
      for (const p of probes) p.close();
      await s.server.close();
    }
  });

  it('8. Origins: near misses and DNS rebinding are refused on HTTP and both WebSocket endpoints; CORS credentials only for the listed origin; JSON routes refuse form bodies', async () => {
    const s = await startServer({ origins: ['https://app.example'] });
    const open = await startServer();
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      assert.equal((await request(`${open.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const near = ['https://app.example.evil.com', 'https://APP.example', 'https://app.example.', 'http://app.example', 'https://app.example:444', 'null'];
      for (const origin of near) {
        const r = await httpFrom(`${s.url}/api/rooms`, { headers: { origin } });
        assert.equal(r.status, 403, `HTTP Origin ${origin}`);
        assert.equal(codeOf(r), 'ORIGIN_NOT_ALLOWED');
        assert.equal(r.headers['access-control-allow-origin'], undefined);
        for (const path of ['/api/ws', '/']) {
          const u = await refusedUpgrade(`ws://127.0.0.1:${s.port}${path}`, { origin });
          assert.equal(u.status, 403, `WebSocket ${path} Origin ${origin}`);
          assert.equal((JSON.parse(u.body) as { code: string }).code, 'ORIGIN_NOT_ALLOWED');
        }
      }
      // DNS rebinding: the page's origin and the Host header agree, both the attacker's.
      const rebound = await httpFrom(`${s.url}/api/rooms`, { headers: { host: 'evil.example', origin: 'http://evil.example' } });
      assert.equal(rebound.status, 403);
      assert.equal(codeOf(rebound), 'ORIGIN_NOT_ALLOWED');
      for (const path of ['/api/ws', '/']) {
        const u = await refusedUpgrade(`ws://127.0.0.1:${s.port}${path}`, { origin: 'http://evil.example', headers: { host: 'evil.example' } });
        assert.equal(u.status, 403, `rebinding on ${path}`);
      }
      // The listed origin: allowed, with credentials.
      const ok = await httpFrom(`${s.url}/api/rooms`, { headers: { origin: 'https://app.example' } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      for (const path of ['/api/ws', '/']) {
        const w = new RawWs(`ws://127.0.0.1:${s.port}${path}`, { origin: 'https://app.example' });
        await w.opened;
        w.ws.close();
      }
      // Default origins ['*']: any origin may read, never with credentials.
      for (const origin of ['https://evil.example', 'null', 'https://app.example']) {
        const r = await httpFrom(`${open.url}/api/rooms`, { headers: { origin } });
        assert.equal(r.status, 200);
        assert.equal(r.headers['access-control-allow-origin'], '*');
        assert.equal(r.headers['access-control-allow-credentials'], undefined, `credentials allowed for ${origin}`);
      }
      // Bodies a cross-site form can send without a preflight are refused.
      const bodies: [string | undefined, string][] = [
        ['text/plain', '{"text":"csrf"}'],
        ['text/plain;charset=UTF-8', '{"text":"csrf"}'],
        ['application/x-www-form-urlencoded', 'text=csrf'],
        ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="text"\r\n\r\ncsrf\r\n--x--\r\n'],
        [undefined, '{"text":"csrf"}'],
      ];
      for (const server of [s, open]) {
        for (const [type, body] of bodies) {
          for (const path of ['/api/rooms/R/messages', '/update', '/api/rooms/R/typing']) {
            const r = await httpFrom(server.url + path, { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
            assert.equal(r.status, 415, `${path} with ${type}: ${r.status} ${r.body}`);
            assert.equal(codeOf(r), 'UNSUPPORTED_MEDIA_TYPE');
          }
        }
      }
      for (const server of [s, open]) {
        for (const room of ['R', 'lobby']) assert.equal((await historyOf(server.url, room)).filter((e) => e.type === 'message').length, 0, 'nothing was stored');
      }
    } finally {
      await s.server.close();
      await open.server.close();
    }
  });

  it('9. hostile frames are answered without flooding the log; lone surrogates are refused; the web app is served with strict headers', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const s = await startServer({ logger });
    const probes: WsProbe[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);
      const before = lines.length;
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
      probes.push(ws);
      await ws.opened;
      for (let i = 0; i < 2000; i++) ws.ws.send('{"type":{"toString":1}}');
      await waitFor(() => ws.of('error').length >= 2000, 20_000, '2000 error frames');
      await sleep(50);
      // Lines about bad input (warn and up); the access log (info) has one line per request by design.
      const warnings = (from: number): string[] => lines.slice(from).filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
      const byFlood = warnings(before).length;
      assert.ok(byFlood <= 5, `${byFlood} log lines for 2000 identical bad frames: ${lines.slice(before, before + 3).join('')}`);
      const odd = [
        '{"type":"publish","room":{"toString":1},"text":"x"}',
        '{"type":"publish","room":"R","text":{"toString":1}}',
        '{"type":"subscribe","room":"__proto__"}',
        '{"__proto__":{"type":"ping"}}',
        '{"type":"constructor"}',
        '{"type":"toString"}',
        '{"type":["ping"]}',
        'null',
        '[]',
        '"ping"',
        '1e999',
        '{"type":"refresh","token":{"length":1}}',
      ];
      for (const f of odd) for (let i = 0; i < 20; i++) ws.ws.send(f);
      const expected = 2000 + odd.length * 20;
      await waitFor(() => ws.frames.filter((f) => f.type === 'error').length >= expected, 20_000, `${expected} error frames`);
      const errors = ws.of('error');
      assert.equal(errors.length, expected);
      assert.ok(errors.slice(0, 2000).every((f) => f.code === 'UNKNOWN_FRAME'), 'UNKNOWN_FRAME for a non-string type');
      assert.ok(errors.every((f) => f.code !== 'INTERNAL'), `codes: ${[...new Set(errors.map((f) => f.code))].join(', ')}`);
      for (let i = 0; i < 50; i++) {
        const r = await postJson(`${s.url}/api/rooms/R/messages`, { text: { toString: 1 } });
        assert.equal(r.status, 400);
      }
      ws.send({ type: 'ping', id: 'alive' });
      await ws.next('pong', (f) => f.id === 'alive');
      await sleep(100);
      const during = warnings(before);
      const levels = lines.map((l) => (JSON.parse(l) as { level: number }).level);
      assert.ok(levels.every((l) => l < 50), `error lines: ${lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50).slice(0, 3).join('')}`);
      // Refusals are logged at warn, a few per code and window: bounded by the kinds of bad input, not their number.
      const kinds = new Set(
        during.map((l) => {
          const o = JSON.parse(l) as { code?: string; method?: string };
          return `${o.method !== undefined ? 'http' : 'ws'}:${o.code ?? l}`;
        }),
      );
      assert.ok(during.length <= 5 * Math.max(1, kinds.size) && during.length <= 40, `${during.length} log lines for ${expected + 50} bad inputs of ${kinds.size} kinds: ${during.slice(0, 3).join('')}`);

      // A lone surrogate (a JSON escape: the bytes are valid UTF-8) is refused everywhere.
      const lone = '{"text":"a\\ud800b"}';
      for (const path of ['/api/rooms/R/messages', '/update']) {
        const r = await request(`${s.url}${path}`, { method: 'POST', body: lone, headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, `${path}: ${r.body}`);
        assert.equal(codeOf(r), 'INVALID_UTF8');
      }
      ws.ws.send('{"type":"publish","id":"lone","room":"R","text":"a\\ud800b"}');
      assert.equal((await ws.next('error', (f) => f.id === 'lone')).code, 'INVALID_UTF8');
      ws.ws.send('{"type":"publish","id":"lone2","room":"R","text":"\\udfff"}');
      assert.equal((await ws.next('error', (f) => f.id === 'lone2')).code, 'INVALID_UTF8');
      assert.equal((await historyOf(s.url, 'R')).filter((e) => e.type === 'message').length, 0);

      // The web app's index: strict headers.
      const index = await httpFrom(`${s.url}/`, { headers: { accept: 'text/html' } });
      assert.equal(index.status, 200, 'the web app is built (npm run build) and served');
      assert.match(String(index.headers['content-type']), /text\/html/);
      const csp = String(index.headers['content-security-policy'] ?? '');
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(index.headers['x-content-type-options'], 'nosniff');
      assert.ok(index.headers['referrer-policy'], 'referrer-policy');
    } finally {
      for (const p of probes) p.close();
      await s.server.close();
    }
  });

  it('10. fuzz: arbitrary JSON and strings over WebSocket and HTTP get catalog answers, never a crash', async () => {
    const rss0 = process.memoryUsage().rss;
    const s = await startServer({ rateLimitPerSecond: 100_000, rateLimitBurst: 100_000, createRatePerSecond: 1000, maxRooms: 100_000 });
    let ws: RawWs | undefined;
    const conns: RawWs[] = [];
    const badReplies: string[] = [];
    const closeCodes: number[] = [];
    try {
      assert.equal((await request(`${s.url}/api/rooms/F`, { method: 'PUT' })).status, 201);
      const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constant(''), fc.constant('a\ud800b'));
      const value = fc.oneof(fc.jsonValue(), text, fc.constant({ toString: 1 }), fc.constant(null));
      const room = fc.oneof(fc.constant('F'), fc.constant('lobby'), fc.string(), fc.stringMatching(/^[A-Za-z0-9_.-]{1,70}$/), fc.constant('__proto__'));
      const frameShape = fc.record(
        {
          type: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'typing', 'ping', 'refresh', 'explode', '__proto__'), value),
          id: fc.oneof(fc.string(), value),
          room: fc.oneof(room, value),
          text: fc.oneof(text, value),
          clientId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_:.-]{1,70}$/), value),
          after: fc.oneof(fc.constant('0'), fc.string(), value),
          create: fc.oneof(fc.boolean(), value),
          token: fc.oneof(fc.string(), value),
        },
        { requiredKeys: [] },
      );
      const payload = fc.oneof(frameShape.map((o) => JSON.stringify(o)), fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), fc.string({ unit: 'binary' }));
      const bodyShape = fc.record(
        { text: fc.oneof(text, value), clientId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_:.-]{1,70}$/), value), name: fc.oneof(fc.string(), value), member: fc.oneof(fc.string(), value), connectionId: value },
        { requiredKeys: [] },
      );
      const body = fc.oneof(bodyShape.map((o) => JSON.stringify(o)), fc.json(), fc.string(), fc.string({ unit: 'binary' }));

      const connect = async (): Promise<RawWs> => {
        const w = new RawWs(`ws://127.0.0.1:${s.port}/api/ws`);
        conns.push(w);
        void w.closed.then((code) => closeCodes.push(code));
        await w.opened;
        return w;
      };
      ws = await connect();
      let pings = 0;
      const wsProperty = fc.asyncProperty(payload, async (frame) => {
        if (ws!.ws.readyState !== WebSocket.OPEN) ws = await connect();
        const w = ws!;
        w.ws.send(frame);
        const id = `fz-${++pings}`;
        w.ws.send(JSON.stringify({ type: 'ping', id }));
        await waitFor(() => w.texts.some((t) => t.includes(`"${id}"`)) || w.closeCode !== undefined, 5000, 'the pong after a fuzzed frame');
        assert.notEqual(w.closeCode, 1011, `closed with 1011 after ${JSON.stringify(frame).slice(0, 200)}`);
      });
      const httpProperty = (path: string) =>
        fc.asyncProperty(body, async (b) => {
          const r = await request(`${s.url}${path}`, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } });
          if (r.status >= 200 && r.status < 300) return;
          const code = codeOf(r);
          assert.ok(isErrorCode(code), `${path} ${r.status} without a catalog code for ${JSON.stringify(b).slice(0, 200)}: ${r.body.slice(0, 200)}`);
          assert.equal(r.status, ERRORS[code].status, `${path}: status of ${code}`);
          assert.notEqual(code, 'INTERNAL', `${path}: INTERNAL for ${JSON.stringify(b).slice(0, 200)}`);
        });
      const started = performance.now();
      const limits = { numRuns: 400, interruptAfterTimeLimit: 2200, markInterruptAsFailure: false, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) };
      await fc.assert(wsProperty, limits);
      await fc.assert(httpProperty('/api/rooms/F/messages'), { ...limits, numRuns: 300 });
      await fc.assert(httpProperty('/update'), { ...limits, numRuns: 300 });
      assert.ok(performance.now() - started < 8000, `the fuzz took ${(performance.now() - started).toFixed(0)} ms`);

      for (const t of conns.flatMap((c) => c.texts)) {
        try {
          JSON.parse(t);
        } catch {
          badReplies.push(t);
        }
      }
      assert.deepEqual(badReplies.slice(0, 5), [], 'every WebSocket reply is JSON');
      assert.ok(!closeCodes.includes(1011), `close codes: ${closeCodes.join(', ')}`);
      assert.equal((await httpFrom(`${s.url}/healthz`)).status, 200);
      assert.ok(process.memoryUsage().rss - rss0 < 200 * MB, `RSS grew by ${((process.memoryUsage().rss - rss0) / MB).toFixed(0)} MB`);
    } finally {
      for (const c of conns) c.ws.terminate();
      await s.server.close();
    }
  });

  it('11. a client that hangs up while being subscribed leaves no slot, no subscriber, no member (SSE, WebSocket), and shutdown is quick', async () => {
    class SlowPresence extends MemoryPresenceStore {
      delayMs = 0;
      override async members(room: string, now: number): Promise<PresenceMember[]> {
        if (this.delayMs > 0) await sleep(this.delayMs);
        return super.members(room, now);
      }
    }
    class SlowStore extends MemoryStore {
      delayMs = 0;
      override async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
        if (this.delayMs > 0) await sleep(this.delayMs);
        return super.readAfter(room, after, limit);
      }
    }
    const presenceStore = new SlowPresence();
    const messageStore = new SlowStore();
    const shutdownTimeoutMs = 5000;
    const s = await startServer({ presenceStore, messageStore, presenceGraceMs: 100, shutdownTimeoutMs });
    let closed = false;
    const settled = async (what: string): Promise<void> => {
      await waitFor(() => s.server.context.connections.size === 0, 3000, `${what}: no connection slot left`);
      await waitFor(() => s.server.hub.subscriberCount === 0, 3000, `${what}: no subscriber left`);
      // The delayed step resumes (300 ms) and the grace period (100 ms) passes: some 400 ms, more
      // on a busy machine. Read until both are empty, for 3 s at most (a member left behind stays).
      const delays = [presenceStore.delayMs, messageStore.delayMs];
      const deadline = Date.now() + 3000;
      for (;;) {
        await sleep(100);
        presenceStore.delayMs = messageStore.delayMs = 0;
        const [inR, inLobby] = [await presenceOf(s.url, 'R'), await presenceOf(s.url, 'lobby')];
        [presenceStore.delayMs, messageStore.delayMs] = delays as [number, number];
        if ((inR.length === 0 && inLobby.length === 0) || Date.now() > deadline) {
          assert.deepEqual(inR, [], `${what}: presence of R`);
          assert.deepEqual(inLobby, [], `${what}: presence of lobby`);
          break;
        }
      }
      assert.equal(s.server.context.connections.size, 0, `${what}: connections`);
      assert.equal(s.server.hub.subscriberCount, 0, `${what}: subscribers`);
      assert.equal(s.server.context.limits.openFrom('127.0.0.1'), 0, `${what}: per-address count`);
    };
    try {
      assert.equal((await request(`${s.url}/api/rooms/R`, { method: 'PUT' })).status, 201);

      // (a) SSE, native and the lecture's: hang up while presence is read (before the stream opens) ...
      for (const path of ['/api/rooms/R/events?member=sse-a', '/subscribe']) {
        presenceStore.delayMs = 300;
        const req = http.get(`${s.url}${path}`, { headers: { accept: 'text/event-stream' }, agent: false });
        req.on('error', () => {});
        await waitFor(() => s.server.context.connections.size === 1, 2000, 'the stream admitted');
        await sleep(100);
        req.destroy();
        await settled(`SSE ${path} closed while presence was read`);
        presenceStore.delayMs = 0;
      }
      // ... and while the history is replayed (after the stream opened and the member was attached).
      for (const path of ['/api/rooms/R/events?member=sse-b', '/subscribe']) {
        messageStore.delayMs = 300;
        const sse = await openSse(`${s.url}${path}`);
        assert.equal(sse.status, 200);
        await sleep(100);
        sse.req.destroy();
        await settled(`SSE ${path} closed during the replay`);
        messageStore.delayMs = 0;
      }

      // (b) WebSocket, native and the lecture's, closed while subscribing.
      for (const delay of ['presence', 'replay'] as const) {
        if (delay === 'presence') presenceStore.delayMs = 300;
        else messageStore.delayMs = 300;
        const native = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=ws-${delay}`);
        await native.opened;
        native.send({ type: 'subscribe', id: 's', room: 'R' });
        if (delay === 'replay') await native.next('subscribed', () => true, 2000);
        else await sleep(100);
        native.close();
        const lecture = new WsProbe(`ws://127.0.0.1:${s.port}/`);
        await lecture.opened;
        await sleep(100);
        lecture.ws.terminate();
        await settled(`WebSocket closed while subscribing (${delay} delayed)`);
        presenceStore.delayMs = messageStore.delayMs = 0;
      }

      const t0 = performance.now();
      closed = true;
      await s.server.close();
      const took = performance.now() - t0;
      // Nothing left to wait for: well before the deadline (half of it, for a busy machine), not at it.
      assert.ok(took < shutdownTimeoutMs / 2, `shutdown took ${took.toFixed(0)} ms (shutdownTimeoutMs ${shutdownTimeoutMs})`);
    } finally {
      if (!closed) await s.server.close();
    }
  });

  it('12. a search over a room of big messages looks at a bounded amount of text (memory store, as Redis): complete: false past it', async () => {
    const s = await startServer({ rateLimitPerSecond: 1e6, rateLimitBurst: 1e6 });
    try {
      assert.equal((await request(`${s.url}/api/rooms/big`, { method: 'PUT' })).status, 201);
      // The oldest message holds the word; 140 of about 64,000 characters follow it (about 9 MB, over SEARCH_TEXT_LIMIT).
      await s.server.publish('big', { text: 'needle' });
      const filler = 'lorem ipsum dolor sit amet '.repeat(2400);
      for (let i = 0; i < 140; i++) await s.server.publish('big', { text: filler });
      const r = await httpFrom(`${s.url}/api/rooms/big/search?q=needle`);
      assert.equal(r.status, 200, r.body);
      const found = r.json() as { results: Entry[]; complete: boolean; more: boolean };
      assert.equal(found.complete, false, 'the scan stopped before the oldest message: it says so');
      assert.deepEqual(found.results, []);
      // A search from an older `before` goes on where it stopped.
      const older = (await httpFrom(`${s.url}/api/rooms/big/search?q=needle&before=3`)).json() as { results: Entry[]; complete: boolean };
      assert.deepEqual(older.results.map((e) => e.seq), [1]);
      assert.equal(older.complete, true);
    } finally {
      await s.server.close();
    }
  });

  it('13. a keyed server\'s guest, named per request or connection, cannot react or keep a read position: no inflated counts, no phantom readers, no log entries from read-only guests', async () => {
    const secret = 'abuse-13-secret-0123456789abcdef-0123';
    const s = await startServer({ jwtSecret: secret, guests: 'read', guestRooms: ['lobby'] });
    try {
      const ann = await mintToken(secret, { sub: 'ann', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
      const auth = { authorization: `Bearer ${ann}`, 'content-type': 'application/json' };
      const sent = await httpFrom(`${s.url}/api/rooms/lobby/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ text: 'hi' }) });
      assert.equal(sent.status, 201, sent.body);
      const { seq } = sent.json() as { seq: number };
      // Over HTTP every request of a guest is another guest: six reactions were six members.
      for (let i = 0; i < 6; i++) {
        const r = await jsonFrom(`${s.url}/api/rooms/lobby/messages/${seq}/reactions`, { emoji: '👎', on: true });
        assert.equal(r.status, 401, r.body);
        assert.equal(codeOf(r), 'UNAUTHORIZED');
        const read = await httpFrom(`${s.url}/api/rooms/lobby/read`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ seq }) });
        assert.equal(read.status, 401, read.body);
      }
      // Over WebSocket: a new guest per connection.
      const guest = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
      await guest.opened;
      guest.send({ type: 'react', id: 'r', room: 'lobby', seq, emoji: '👎' });
      guest.send({ type: 'mark-read', id: 'm', room: 'lobby', seq });
      assert.equal((await guest.next('error', (f) => f.id === 'r', 2000)).code, 'UNAUTHORIZED');
      assert.equal((await guest.next('error', (f) => f.id === 'm', 2000)).code, 'UNAUTHORIZED');
      guest.close();
      const room = (await httpFrom(`${s.url}/api/rooms/lobby`, { headers: auth })).json() as { lastSeq: number };
      assert.equal(room.lastSeq, seq, 'no reaction entry in the log');
      const state = (await httpFrom(`${s.url}/api/rooms/lobby/read`, { headers: auth })).json() as { members: unknown[] };
      assert.deepEqual(state.members, [], 'no reader that is no one');
      // A user still reacts and marks read.
      assert.equal((await httpFrom(`${s.url}/api/rooms/lobby/messages/${seq}/reactions`, { method: 'POST', headers: auth, body: JSON.stringify({ emoji: '👍' }) })).status, 201);
      assert.equal((await httpFrom(`${s.url}/api/rooms/lobby/read`, { method: 'PUT', headers: auth, body: JSON.stringify({ seq }) })).status, 200);
    } finally {
      await s.server.close();
    }
  });

  it('14. searches and unread counts that scan much text pay for it from the query budget: a guest cannot keep the event loop busy with them', async () => {
    const s = await startServer({ rateLimitPerSecond: 1e6, rateLimitBurst: 1e6 });
    try {
      // 40 messages of about 64,000 characters: some 2.6 M characters, 9 units past the first
      // (SEARCH_CHARS_PER_QUERY_UNIT). An unread count reads 2 MiB of a room: 7 units past the first.
      const filler = 'lorem ipsum dolor sit amet '.repeat(2400);
      for (const room of ['big', 'big2', 'big3']) {
        assert.equal((await request(`${s.url}/api/rooms/${room}`, { method: 'PUT' })).status, 201);
        for (let i = 0; i < 40; i++) await s.server.publish(room, { text: filler });
      }
      // Each from its own address (127.0.0.x): its own budget.
      const ways: [string, string, number][] = [
        ['127.0.0.1', '/api/rooms/big/search?q=zzzz', 9],
        ['127.0.0.2', '/api/rooms/big/read', 10],
        ['127.0.0.3', '/api/read?rooms=big,big2,big3', 5],
      ];
      for (const [address, path, most] of ways) {
        const { statuses, refused } = await askUntilRefused(`${s.url}${path}`, address, 12);
        // The budget (burst 50, 10 a second) pays for a few such scans, and a few more as it refills while they run: not 50.
        assert.ok(refused !== undefined && statuses.length <= most, `${path}: statuses ${statuses.join(',')}`);
        assert.equal(refused.status, 429);
        assert.equal(codeOf(refused), 'RATE_LIMITED');
        assert.ok(Number(refused.headers['retry-after']) >= 1);
      }
    } finally {
      await s.server.close();
    }
  });

  it('14b. history, poll, list and replay answers pay for their bytes (--read-rate): one address cannot keep the server sending megabytes; small answers cost nothing, other addresses and the application are not held back', async () => {
    // 1 MiB a second, burst 4 MiB: 16 units of 64 KiB a second, 64 saved up.
    const s = await startServer({ rateLimitPerSecond: 1e6, rateLimitBurst: 1e6, readMiBPerSecond: 1 });
    try {
      assert.equal((await request(`${s.url}/api/rooms/big`, { method: 'PUT' })).status, 201);
      const filler = 'lorem ipsum dolor sit amet '.repeat(2400);
      for (let i = 0; i < 40; i++) await s.server.publish('big', { text: filler });
      // Each from its own address: a 1 MiB answer (--max-answer-bytes) costs 16 units.
      const ways: [string, string][] = [
        ['127.0.0.1', '/api/rooms/big/messages?limit=500'],
        ['127.0.0.2', '/api/rooms/big/poll?after=0&limit=500'],
        ['127.0.0.3', '/api/rooms/big/longpoll?after=0&limit=500'],
      ];
      for (const [address, path] of ways) {
        const { statuses, refused } = await askUntilRefused(`${s.url}${path}`, address, 20, (r) => assert.ok(r.body.length > 900_000, `${path}: a full answer (${r.body.length} bytes)`));
        // Four answers use the burst up, the fifth goes into debt (answered), the next is refused.
        assert.ok(refused !== undefined && statuses.length >= 5 && statuses.length <= 7, `${path}: statuses ${statuses.join(',')}`);
        assert.equal(refused.status, 429);
        assert.equal(codeOf(refused), 'RATE_LIMITED');
        assert.match(JSON.parse(refused.body).message as string, /--read-rate/);
        assert.ok(Number(refused.headers['retry-after']) >= 1);
        // While it owes, its small polls and its presence and room lists wait too.
        for (const small of ['/api/rooms/big/poll?limit=1', '/api/rooms/big/presence', '/api/rooms']) assert.equal((await httpFrom(`${s.url}${small}`, { localAddress: address })).status, 429, `${small} after ${path}`);
      }
      // Paid back after Retry-After: answered again.
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await httpFrom(`${s.url}/api/rooms/big/messages?limit=500`, { localAddress: '127.0.0.1' })).status, 200);
      // Answers under 64 KiB cost nothing: 300 small history pages and polls from one address.
      for (let i = 0; i < 150; i++) {
        assert.equal((await httpFrom(`${s.url}/api/rooms/big/messages?limit=1`, { localAddress: '127.0.0.4' })).status, 200);
        assert.equal((await httpFrom(`${s.url}/api/rooms/big/poll?limit=1`, { localAddress: '127.0.0.4' })).status, 200);
      }
      // A subscription's replay of the store pays the same (about 2.6 MB here, 39 units): a WebSocket
      // that subscribes again and again from the start is refused once it owes, and so is its SSE.
      const { epoch } = await s.server.history('big', { limit: 1 });
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`, { localAddress: '127.0.0.6' });
      await ws.opened;
      let replays = 0;
      for (let i = 0; i < 6 && ws.of('error').length === 0; i++) {
        ws.send({ type: 'subscribe', id: `s${i}`, room: 'big', after: `${epoch}:0` });
        await waitFor(() => ws.frames.some((f) => f.id === `s${i}` && (f.type === 'subscribed' || f.type === 'error')), 5000, `answer s${i}`);
        if (ws.of('error').length === 0) {
          replays++;
          await waitFor(() => ws.of('message').length >= 40 * replays, 5000, `replay ${replays}`);
        }
      }
      // Its SSE at once, while it still owes (the refusal's debt is paid back within a second or two).
      const sse = await httpFrom(`${s.url}/api/rooms/big/events`, { localAddress: '127.0.0.6' });
      assert.ok(replays >= 2 && replays <= 3, `${replays} replays before the refusal`);
      assert.equal(ws.of('error')[0]!.code, 'RATE_LIMITED');
      ws.close();
      assert.equal(sse.status, 429);
      // Another address, and the application's own calls, are not held back.
      assert.equal((await httpFrom(`${s.url}/api/rooms/big/messages?limit=500`, { localAddress: '127.0.0.5' })).status, 200);
      for (let i = 0; i < 10; i++) assert.ok((await s.server.history('big', { limit: 500 })).entries.length > 0);
    } finally {
      await s.server.close();
    }
  });

  it('14c. tokens that fail to verify are bounded per address (--auth-failure-rate): past it, an unknown token is refused before any cryptography, over HTTP and in a WebSocket refresh; a token verified before still passes, other addresses are not held back', async () => {
    const secret = randomBytes(32).toString('base64url');
    const s = await startServer({ jwtSecret: secret, guests: 'read', guestRooms: ['lobby'], authFailureRatePerSecond: 2 });
    try {
      const ann = await mintToken(secret, { sub: 'ann', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
      const bob = await mintToken(secret, { sub: 'bob', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
      const [head, body, sig] = ann.split('.');
      const forged = (i: number): string => `${head}.${body}.${sig!.slice(0, -6)}${String(100_000 + i).slice(-6)}`;
      const get = (token: string, localAddress: string): Promise<HttpAnswer> => httpFrom(`${s.url}/api/rooms/lobby/messages?limit=1`, { localAddress, headers: { authorization: `Bearer ${token}` } });
      // Ann's token is verified (and cached) before the flood.
      assert.equal((await get(ann, '127.0.0.8')).status, 200);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) statuses.push((await get(forged(i), '127.0.0.8')).status);
      // A burst of 10 (2 a second × 5) verified and refused 401, and a few more as it refills; then 429.
      const unauthorized = statuses.filter((st) => st === 401).length;
      assert.ok(unauthorized >= 10 && unauthorized <= 13, `statuses ${statuses.join(',')}`);
      assert.deepEqual(statuses.slice(unauthorized), Array(30 - unauthorized).fill(429), `statuses ${statuses.join(',')}`);
      const refused = await get(forged(99), '127.0.0.8');
      assert.equal(codeOf(refused), 'RATE_LIMITED');
      assert.match(JSON.parse(refused.body).message as string, /--auth-failure-rate/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      // While the address owes: Ann's known token passes, Bob's (never verified) waits; another address is served.
      assert.equal((await get(ann, '127.0.0.8')).status, 200);
      assert.equal((await get(bob, '127.0.0.8')).status, 429);
      assert.equal((await get(forged(100), '127.0.0.9')).status, 401);
      assert.equal((await get(bob, '127.0.0.9')).status, 200);
      // A WebSocket's refresh frames with forged tokens spend the same budget.
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?token=${ann}`, { localAddress: '127.0.0.10' });
      await ws.opened;
      for (let i = 0; i < 20; i++) ws.send({ type: 'refresh', id: `r${i}`, token: forged(200 + i) });
      await waitFor(() => ws.of('error').length >= 20, 5000, '20 answers');
      const codes = ws.of('error').map((f) => f.code);
      assert.ok(codes.filter((c) => c === 'UNAUTHORIZED').length <= 13 && codes.includes('RATE_LIMITED'), `codes ${codes.join(',')}`);
      ws.close();
    } finally {
      await s.server.close();
    }
  });

  it('14d. scrapes of /metrics on the main port without --metrics-token spend a unit each of the query budget of their address (a collection costs milliseconds at scale); with a token they do not', async () => {
    const s = await startServer({ queryRatePerSecond: 1 });
    const keyed = await startServer({ queryRatePerSecond: 1, metricsToken: 'scrape-token-0123456789' });
    try {
      // Burst 5 (1 a second × 5): the sixth scrape in a row is refused, saying what to do.
      const { statuses, refused } = await askUntilRefused(`${s.url}/metrics`, '127.0.0.11', 10, (r) => assert.match(r.body, /switchboard_connections/));
      assert.ok(statuses.length >= 6 && statuses.length <= 7, `statuses ${statuses.join(',')}`);
      assert.equal(refused?.status, 429);
      assert.equal(codeOf(refused!), 'RATE_LIMITED');
      assert.match(JSON.parse(refused!.body).message as string, /--metrics-port.*--metrics-token/);
      assert.equal((await httpFrom(`${s.url}/metrics`, { localAddress: '127.0.0.12' })).status, 200);
      for (let i = 0; i < 20; i++) {
        const r = await httpFrom(`${keyed.url}/metrics`, { localAddress: '127.0.0.11', headers: { authorization: 'Bearer scrape-token-0123456789' } });
        assert.equal(r.status, 200, `scrape ${i} with the token`);
      }
    } finally {
      await s.server.close();
      await keyed.server.close();
    }
  });

  it('15. a WebSocket message that never comes whole (a first fragment and never the last, pings answered) is cut after requestTimeoutMs; idle and whole ones are not', async () => {
    const s = await startServer({ heartbeatMs: 200, requestTimeoutMs: 600, headersTimeoutMs: 500, logger: pino({ level: 'silent' }) });
    try {
      const ws = `ws://127.0.0.1:${s.port}/api/ws`;
      const partial = new WsProbe(ws);
      const idle = new WsProbe(ws);
      const whole = new WsProbe(ws);
      await Promise.all([partial.opened, idle.opened, whole.opened]);
      // 300 KB held by the server for as long as the client likes (it answers every ping: ws does).
      partial.ws.send(Buffer.alloc(300_000, 0x61), { fin: false, binary: false });
      whole.ws.send(Buffer.alloc(300_000, 0x61), { fin: false, binary: false });
      whole.ws.send(Buffer.from('"x"'), { fin: true, binary: false }); // the rest: one whole message (not JSON)
      const cut = await Promise.race([partial.closed, sleep(4000).then(() => 'still open')]);
      assert.equal(cut, 1006, 'cut, no close frame (it may be reading nothing)');
      assert.equal(idle.ws.readyState, WebSocket.OPEN, 'an idle socket answering pings stays');
      assert.equal(whole.ws.readyState, WebSocket.OPEN, 'a whole message, however big, is no part waiting');
      assert.equal((await whole.next('error', () => true, 2000)).code, 'BAD_JSON');
      idle.close();
      whole.close();
    } finally {
      await s.server.close();
    }
  });
  it('16. Range headers of the web app\'s files: a reversed, huge, multi or suffix range is ignored (the whole file, 200), a plain one served (206); none stops the server', async () => {
    const s = await startServer();
    try {
      const whole = await httpFrom(`${s.url}/`);
      assert.equal(whole.status, 200, 'the web app is built (npm run build) and served');
      // Each of these threw out of sirv's file stream and ended the process (one GET from anyone).
      for (const range of ['bytes=5-2', 'bytes=0-99999999999999999999', 'bytes=0-1,3-4', 'bytes=-5', 'bytes=x-y', 'items=0-1']) {
        const r = await httpFrom(`${s.url}/`, { headers: { range } });
        assert.equal(r.status, 200, `${range}: ${r.status}`);
        assert.equal(r.body, whole.body, range);
        assert.equal((await httpFrom(`${s.url}/healthz`)).status, 200, `the server still answers after ${range}`);
      }
      const part = await httpFrom(`${s.url}/`, { headers: { range: 'bytes=1-4' } });
      assert.equal(part.status, 206);
      assert.equal(part.body, whole.body.slice(1, 5));
      assert.equal((await httpFrom(`${s.url}/`, { headers: { range: 'bytes=99999999-' } })).status, 416);
    } finally {
      await s.server.close();
    }
  });

  it('16b. the same Range headers over HTTP/2 (TLS): ignored, the server goes on', { skip: skipWithoutOpenssl() }, async () => {
    const cert = makeCertificate();
    const s = await startServer({ tlsCert: cert.cert, tlsKey: cert.key });
    const session = http2.connect(`https://localhost:${s.port}`, { ca: readFileSync(cert.cert) });
    session.on('error', () => {});
    const get = (headers: Record<string, string>): Promise<{ status: number; body: string }> => h2Request(session, { ':path': '/', ...headers });
    try {
      const whole = await get({});
      assert.equal(whole.status, 200);
      for (const range of ['bytes=5-2', 'bytes=0-99999999999999999999']) {
        const r = await get({ range });
        assert.equal(r.status, 200, range);
        assert.equal(r.body, whole.body, range);
      }
      assert.equal((await get({ range: 'bytes=1-4' })).body, whole.body.slice(1, 5));
    } finally {
      session.close();
      await s.server.close();
      rmSync(cert.dir, { recursive: true, force: true });
    }
  });
  it('17. a keyed server\'s guest cannot use a user\'s presence ticket (one read from a URL in a log): not to keep the user present, not to make it leave; a guest\'s ticket still serves guests', async () => {
    const secret = randomBytes(32).toString('base64');
    const s = await startServer({ jwtSecret: secret, guests: 'read', guestRooms: ['lobby'] });
    try {
      const ann = await mintToken(secret, { sub: 'ann', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
      const joined = await httpFrom(`${s.url}/api/rooms/lobby/presence`, { method: 'POST', headers: { authorization: `Bearer ${ann}` } });
      assert.equal(joined.status, 201, joined.body);
      const annTicket = encodeURIComponent((joined.json() as { session: string }).session);
      // Before, a user's ticket was refused to other users but taken from any guest.
      for (const [method, path] of [['GET', 'poll'], ['GET', 'longpoll'], ['DELETE', 'presence']] as const) {
        const r = await httpFrom(`${s.url}/api/rooms/lobby/${path}?session=${annTicket}${path === 'longpoll' ? '&timeout=0' : ''}`, { method, localAddress: '127.0.0.2' });
        assert.equal(r.status, 400, `${method} ${path}: ${r.body}`);
        assert.equal(codeOf(r), 'INVALID_SESSION', `${method} ${path}`);
      }
      // A guest's ticket is good for any guest (guests have no proof of who they are): unchanged.
      const guest = await httpFrom(`${s.url}/api/rooms/lobby/presence`, { method: 'POST', localAddress: '127.0.0.2' });
      assert.equal(guest.status, 201, guest.body);
      const guestTicket = encodeURIComponent((guest.json() as { session: string }).session);
      assert.equal((await httpFrom(`${s.url}/api/rooms/lobby/poll?session=${guestTicket}`, { localAddress: '127.0.0.3' })).status, 200);
      assert.equal((await httpFrom(`${s.url}/api/rooms/lobby/poll?session=${annTicket}`, { headers: { authorization: `Bearer ${ann}` } })).status, 200, 'its user still polls with it');
    } finally {
      await s.server.close();
    }
  });
  it('18. a web app file removed while the server runs (the app rebuilt in place): asking for it cuts that answer, the server goes on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-abuse-18-'));
    writeFileSync(path.join(dir, 'index.html'), '<p>app</p>');
    writeFileSync(path.join(dir, 'old.js'), 'old();');
    const s = await startServer({ staticDir: dir });
    try {
      assert.equal((await httpFrom(`${s.url}/old.js`)).body, 'old();');
      // sirv lists the files at start-up and streams one without listening for its errors: the
      // ENOENT of a file gone since ended the process.
      rmSync(path.join(dir, 'old.js'));
      const gone = await httpFrom(`${s.url}/old.js`).then((r) => r.status, (err: NodeJS.ErrnoException) => err.code);
      assert.ok(gone === 'ECONNRESET' || gone === 500 || gone === 404, `the answer is cut or refused: ${gone}`);
      assert.equal((await httpFrom(`${s.url}/healthz`)).status, 200, 'the server still answers');
      assert.equal((await httpFrom(`${s.url}/`)).body, '<p>app</p>');
    } finally {
      await s.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
