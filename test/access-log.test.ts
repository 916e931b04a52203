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
});
