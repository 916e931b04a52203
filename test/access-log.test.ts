/**
 * The access log: one `info` line per HTTP request (when its answer is done) and per WebSocket
 * open and close, naming the transport and the member, never the query string (tokens).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createSwitchboard } from '../src/server/server.js';
import { SseProbe, WsProbe, postJson, request, startServer, waitFor } from './helpers.js';

describe('access log', () => {
  it('one line per request and per WebSocket open/close, with transport, member, status, duration and bytes; no query string', { timeout: 10_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const s = await startServer({ logger });
    try {
      await postJson(`${s.url}/api/rooms/lobby/messages`, { text: 'hi', member: 'ann', name: 'Ann' });
      await request(`${s.url}/api/rooms/lobby/poll?token=secret-in-query`);
      await request(`${s.url}/nowhere`);
      const sse = new SseProbe(`${s.url}/api/rooms/lobby/events?member=bob`);
      await sse.ready;
      sse.close();
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=cid`);
      await ws.opened;
      ws.close();
      await waitFor(() => lines.some((l) => l.msg === 'websocket close') && lines.filter((l) => l.msg === 'request').length >= 4);
      const requests = lines.filter((l) => l.msg === 'request');
      const publish = requests.find((l) => l.method === 'POST')!;
      assert.equal(publish.path, '/api/rooms/lobby/messages');
      assert.equal(publish.status, 201);
      assert.equal(publish.member, 'ann');
      assert.equal(publish.transport, 'http');
      assert.equal(typeof publish.ms, 'number');
      assert.ok((publish.bytes as number) > 0);
      assert.ok(requests.some((l) => l.path === '/nowhere' && l.status === 404));
      assert.ok(requests.some((l) => l.transport === 'sse' && l.member === 'bob'));
      assert.ok(lines.some((l) => l.msg === 'websocket open' && l.member === 'cid'));
      assert.ok(!JSON.stringify(lines).includes('secret-in-query'), 'no token from a query string in the log');
    } finally {
      await s.server.close();
    }
  });

  it('under a path (attach at /chat), a line shows the path the client asked for, mount included, without the query', { timeout: 10_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const sb = createSwitchboard({ path: '/chat', store: 'memory', logger });
    await sb.start();
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    sb.attach(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      await postJson(`${url}/chat/api/rooms/lobby/messages`, { text: 'hi', member: 'ann', name: 'Ann' });
      await request(`${url}/chat/switchboard-client.js?token=secret-in-query`);
      await waitFor(() => lines.filter((l) => l.msg === 'request').length >= 2);
      const paths = lines.filter((l) => l.msg === 'request').map((l) => l.path);
      assert.deepEqual(paths, ['/chat/api/rooms/lobby/messages', '/chat/switchboard-client.js']);
      assert.ok(!JSON.stringify(lines).includes('secret-in-query'), 'no token from a query string in the log');
    } finally {
      await sb.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
  it('--no-access-log: no request line and no WebSocket line; other lines are still written', { timeout: 10_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const s = await startServer({ logger, accessLog: false });
    try {
      await postJson(`${s.url}/api/rooms/lobby/messages`, { text: 'hi', member: 'ann', name: 'Ann' });
      await request(`${s.url}/api/rooms/lobby/poll`);
      const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=cid`);
      await ws.opened;
      ws.close();
      await ws.closed;
      // A refused request is still said (at warn, rate-limited: docs/operations.md, "Logs").
      assert.equal((await request(`${s.url}/api/rooms/lobby/messages?limit=abc`)).status, 400);
      await waitFor(() => lines.some((l) => l.code === 'BAD_REQUEST'));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(lines.filter((l) => l.msg === 'request' || String(l.msg).startsWith('websocket')), []);
    } finally {
      await s.server.close();
    }
  });

  it('one address flooding requests gets --access-log-rate lines a second (burst 10×); the rest are counted, and its next line says how many were skipped; another address is logged meanwhile', { timeout: 15_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const s = await startServer({ logger, accessLogRate: 2 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const get = (localAddress: string, path: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        http
          .get(`${s.url}${path}`, { agent, localAddress }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
    const from = async (localAddress: string, path = '/api/rooms/lobby/poll'): Promise<number> => (await get(localAddress, path)).status;
    try {
      const flood = 200;
      const statuses = await Promise.all(Array.from({ length: flood }, () => from('127.0.0.1')));
      // Every request is answered: only its line is skipped.
      assert.deepEqual([...new Set(statuses)], [200]);
      assert.equal(await from('127.0.0.7'), 200, 'another address, during the same second');
      await waitFor(() => lines.some((l) => l.msg === 'request' && l.address === '127.0.0.7'), 5000, "the other address's line");
      const written = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'request' && l.address === '127.0.0.1');
      const duringFlood = written().length;
      assert.ok(duringFlood >= 20 && duringFlood <= 30, `${duringFlood} lines for ${flood} requests at 2 a second, burst 20`);
      // Once its budget refilled, its next line says how many were skipped since its last.
      await new Promise((r) => setTimeout(r, 600));
      await from('127.0.0.1', '/healthz');
      await waitFor(() => written().some((l) => l.path === '/healthz'), 5000, 'the line after the flood');
      const skipped = written().reduce((n, l) => n + ((l.skipped as number | undefined) ?? 0), 0);
      assert.equal(written().length + skipped, flood + 1, 'each request of the address is written or counted in a later line');
      assert.equal(written().find((l) => l.path === '/healthz')!.skipped, skipped);
      // Scraped from the other address: this one's budget may be spent again.
      const metrics = (await get('127.0.0.7', '/metrics')).body;
      assert.match(metrics, new RegExp(`^switchboard_access_log_skipped_total ${skipped}$`, 'm'));
    } finally {
      agent.destroy();
      await s.server.close();
    }
  });
  it('WebSocket opens spend the same budget: a socket whose open line was skipped gets no close line either; one whose open was written gets both', { timeout: 15_000 }, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const s = await startServer({ logger, accessLogRate: 1 });
    try {
      const sockets = Array.from({ length: 15 }, (_, i) => new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=m${i}`));
      await Promise.all(sockets.map((w) => w.opened));
      for (const w of sockets) w.close();
      await Promise.all(sockets.map((w) => w.closed));
      const opens = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'websocket open');
      const closes = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'websocket close');
      await waitFor(() => closes().length >= opens().length, 5000, 'a close line for each open line');
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(opens().length >= 10 && opens().length <= 12, `${opens().length} open lines for 15 sockets at 1 a second, burst 10`);
      assert.deepEqual(closes().map((l) => l.member).sort(), opens().map((l) => l.member).sort());
      // The next line of the address says how many were skipped.
      await new Promise((r) => setTimeout(r, 1100));
      await request(`${s.url}/healthz`);
      await waitFor(() => lines.some((l) => l.msg === 'request'), 5000, 'the request line');
      assert.equal(lines.find((l) => l.msg === 'request')!.skipped, 15 - opens().length);
    } finally {
      await s.server.close();
    }
  });
});
