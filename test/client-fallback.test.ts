import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect, type Ack, type Client, type Entry, type TransportName } from '../src/client/index.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';

/**
 * What the proxy in front of the server does to each kind of traffic:
 * - upgrades: 'pass' tunnels them; 'destroy' cuts the socket; 'refuse' answers 403; 'hold' never answers.
 * - sse: 'pass' streams event streams; 'buffer' holds them until they end (they never do), like a buffering proxy.
 * - longPoll: 'pass', or 'fail' with a 502 page (a proxy that times out held requests).
 * - blackhole: new requests and upgrades are taken in and never answered (the network is gone).
 */
interface ProxyMode {
  upgrades: 'pass' | 'destroy' | 'refuse' | 'hold';
  sse: 'pass' | 'buffer';
  longPoll: 'pass' | 'fail';
  blackhole?: boolean;
}

interface Proxy {
  url: string;
  mode: ProxyMode;
  /** Established connections stop forwarding anything, without closing: a silent dead connection. */
  freeze(): void;
  close(): Promise<void>;
}

async function startProxy(targetPort: number, mode: ProxyMode): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const freezers = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    if (mode.blackhole) return;
    if (mode.longPoll === 'fail' && path.includes('/longpoll')) {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      return;
    }
    const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path, headers: req.headers }, (up) => {
      if (mode.sse === 'buffer' && (up.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => res.writeHead(up.statusCode ?? 502, up.headers).end(Buffer.concat(chunks)));
        return;
      }
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      const freeze = (): void => {
        up.unpipe(res);
        up.pause();
      };
      freezers.add(freeze);
      res.on('close', () => freezers.delete(freeze));
    });
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (mode.upgrades === 'destroy') return void socket.destroy();
    if (mode.upgrades === 'hold' || mode.blackhole) return;
    if (mode.upgrades === 'refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const up = net.connect(targetPort, '127.0.0.1', () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head0 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${head0}\r\n`);
      up.write(head);
      socket.pipe(up);
      up.pipe(socket);
      freezers.add(() => {
        socket.unpipe(up);
        up.unpipe(socket);
        socket.pause();
        up.pause();
      });
    });
    sockets.add(up);
    up.on('close', () => (sockets.delete(up), socket.destroy()));
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode,
    freeze() {
      for (const freeze of freezers) freeze();
      freezers.clear();
    },
    async close() {
      server.close();
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
    },
  };
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fallback timings in the tests: a blocked transport is given up after OPEN_TIMEOUT_MS. */
const OPEN_TIMEOUT_MS = 1000;
const UPGRADE_RETRY_MS = 300;

describe('auto transport: fallback and upgrade', () => {
  let server: Switchboard;
  let port: number;
  let direct: Client;
  const proxies: Proxy[] = [];
  const clients: Client[] = [];

  before(async () => {
    // Keepalives well within the silence timeout of the silent-connection tests.
    server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 10_000, rateLimitBurst: 10_000, sseKeepaliveMs: 300 });
    port = await server.listen();
    direct = await connect({ url: `http://127.0.0.1:${port}`, room: 'lobby', name: 'direct', transport: 'websocket' });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await direct.close();
    await Promise.all(proxies.map((p) => p.close()));
    await server.close();
  });

  /** Connects in auto mode through a proxy in `mode`; returns the client, its entries and how long connecting took. */
  async function autoThrough(mode: ProxyMode): Promise<{ client: Client; proxy: Proxy; seen: Entry[]; ms: number; transports: TransportName[] }> {
    const proxy = await startProxy(port, mode);
    proxies.push(proxy);
    const started = Date.now();
    const client = await connect({
      url: proxy.url,
      room: 'lobby',
      name: 'behind-proxy',
      transport: 'auto',
      openTimeoutMs: OPEN_TIMEOUT_MS,
      upgradeRetryMs: UPGRADE_RETRY_MS,
      pollIntervalMs: 50,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
    });
    const ms = Date.now() - started;
    clients.push(client);
    const seen: Entry[] = [];
    const transports: TransportName[] = [];
    client.on('entry', (e) => seen.push(e));
    client.on('status', (s) => s.status === 'connected' && transports.push(s.transport));
    return { client, proxy, seen, ms, transports };
  }

  /** Publishes `n` messages from the direct client, waits until `seen` has them all, once each. */
  async function flowsOnce(seen: Entry[], n: number, tag: string): Promise<void> {
    const acks: Ack[] = [];
    for (let i = 0; i < n; i++) {
      acks.push(await direct.publish(`${tag}-${i}`));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor(() => acks.every((a) => seen.some((e) => e.seq === a.seq)), `${tag} messages`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.seq > seen[i - 1]!.seq, 'in order, none doubled');
  }

  it('falls back to SSE when WebSocket upgrades are cut, and goes back up when they pass again', { timeout: 15_000 }, async (t) => {
    const { client, proxy, seen, ms } = await autoThrough({ upgrades: 'destroy', sse: 'pass', longPoll: 'pass' });
    t.diagnostic(`upgrade cut -> sse in ${ms} ms`);
    assert.equal(client.transport, 'sse');
    assert.ok(ms < OPEN_TIMEOUT_MS, 'a cut upgrade is seen at once, not after the open timeout');
    const ack = await client.publish('published over HTTP behind the proxy');
    assert.equal(ack.duplicate, false);
    await flowsOnce(seen, 5, 'sse');

    proxy.mode.upgrades = 'pass';
    // Messages keep coming during the upgrade: none lost, none doubled.
    const streaming = flowsOnce(seen, 40, 'upgrading');
    const upStarted = Date.now();
    await waitFor(() => client.transport === 'websocket', 'upgrade to websocket', 5000);
    t.diagnostic(`back on websocket ${Date.now() - upStarted} ms after upgrades were allowed (upgradeRetryMs ${UPGRADE_RETRY_MS})`);
    await streaming;
    await flowsOnce(seen, 5, 'ws');
    assert.equal(client.status, 'connected');
  });

  it('falls back to SSE when the upgrade is refused with a 403', { timeout: 10_000 }, async (t) => {
    const { client, seen, ms } = await autoThrough({ upgrades: 'refuse', sse: 'pass', longPoll: 'pass' });
    t.diagnostic(`upgrade refused -> sse in ${ms} ms`);
    assert.equal(client.transport, 'sse');
    await flowsOnce(seen, 3, 'refused');
  });

  it('falls back to long polling when the upgrade hangs and a proxy buffers the event stream', { timeout: 15_000 }, async (t) => {
    const { client, proxy, seen, ms } = await autoThrough({ upgrades: 'hold', sse: 'buffer', longPoll: 'pass' });
    t.diagnostic(`upgrade held + sse buffered -> long-polling in ${ms} ms (openTimeoutMs ${OPEN_TIMEOUT_MS})`);
    assert.equal(client.transport, 'long-polling');
    assert.ok(ms >= 2 * OPEN_TIMEOUT_MS - 100 && ms < 2 * OPEN_TIMEOUT_MS + 1500, `two open timeouts (${ms} ms)`);
    await client.publish('over long polling');
    await flowsOnce(seen, 5, 'lp');

    // Event streams get through again (upgrades still do not): up to SSE only.
    proxy.mode.sse = 'pass';
    await waitFor(() => client.transport === 'sse', 'upgrade to sse', 8000);
    await flowsOnce(seen, 5, 'lp-to-sse');
  });

  it('falls back to short polling when long polls fail too, and climbs back to WebSocket', { timeout: 20_000 }, async (t) => {
    const { client, proxy, seen, ms, transports } = await autoThrough({ upgrades: 'refuse', sse: 'buffer', longPoll: 'fail' });
    t.diagnostic(`upgrade refused + sse buffered + long polls failing -> polling in ${ms} ms`);
    assert.equal(client.transport, 'polling');
    await client.publish('over short polling');
    await flowsOnce(seen, 5, 'poll');

    Object.assign(proxy.mode, { upgrades: 'pass', sse: 'pass', longPoll: 'pass' });
    const streaming = flowsOnce(seen, 30, 'climbing');
    await waitFor(() => client.transport === 'websocket', 'upgrade to websocket', 8000);
    await streaming;
    await flowsOnce(seen, 5, 'top');
    assert.deepEqual(transports.at(-1), 'websocket');
  });

  it('steps down when a transport opens but keeps dying (a proxy that times out held long polls)', { timeout: 15_000 }, async (t) => {
    const { client, proxy, seen } = await autoThrough({ upgrades: 'refuse', sse: 'buffer', longPoll: 'pass' });
    assert.equal(client.transport, 'long-polling');
    // From now on every long poll fails: the transport dies, and reopening it fails too.
    proxy.mode.longPoll = 'fail';
    const started = Date.now();
    await waitFor(() => client.transport === 'polling' && client.status === 'connected', 'step down to polling', 10_000);
    t.diagnostic(`long polls failing after open -> polling in ${Date.now() - started} ms`);
    await flowsOnce(seen, 3, 'stepped-down');
  });

  for (const transport of ['websocket', 'sse', 'long-polling', 'polling'] as const) {
    it(`${transport}: notices a silent dead connection and resumes`, { timeout: 15_000 }, async (t) => {
      const proxy = await startProxy(port, { upgrades: 'pass', sse: 'pass', longPoll: 'pass' });
      proxies.push(proxy);
      const silenceTimeoutMs = 1500;
      const client = await connect({ url: proxy.url, room: 'lobby', name: `silent-${transport}`, transport, silenceTimeoutMs, openTimeoutMs: 1000, pollIntervalMs: 100, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
      clients.push(client);
      const seen: Entry[] = [];
      client.on('entry', (e) => seen.push(e));
      let lostAt = 0;
      client.on('status', (s) => {
        if (s.status === 'reconnecting' && lostAt === 0) lostAt = Date.now();
      });
      await flowsOnce(seen, 2, `before-freeze-${transport}`);
      const frozenAt = Date.now();
      proxy.mode.blackhole = true;
      proxy.freeze();
      // Published while the connection is dead but not closed: delivered after the resume.
      const acks: Ack[] = [];
      for (let i = 0; i < 3; i++) acks.push(await direct.publish(`during-freeze-${transport}-${i}`));
      await waitFor(() => lostAt > 0, 'the loss noticed', 5000);
      proxy.mode.blackhole = false;
      await waitFor(() => acks.every((a) => seen.some((e) => e.seq === a.seq)), 'messages published during the outage');
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.seq > seen[i - 1]!.seq, 'in order, none doubled');
      t.diagnostic(`${transport}: silent connection noticed after ${lostAt - frozenAt} ms (silenceTimeoutMs ${silenceTimeoutMs})`);
      assert.ok(lostAt - frozenAt <= silenceTimeoutMs + 1000, 'noticed within the silence timeout (plus a watchdog tick)');
      assert.equal(client.transport, transport);
      assert.equal(client.status, 'connected');
      await client.close();
    });
  }
});
