import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PollResult } from '../src/protocol/types.js';
import { SseProbe, WsProbe, rawWsSubscriber, request, startServer, waitFor, type HttpAnswer } from './helpers.js';

describe('connection management', () => {
  it('a dead WebSocket peer (no pong) is reaped by the heartbeat and leaves its rooms at once', async () => {
    const s = await startServer({ heartbeatMs: 150, presenceGraceMs: 50, presenceEntries: true });
    try {
      await request(`${s.url}/api/rooms/hb`, { method: 'PUT' });
      const watcher = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=watcher`);
      await watcher.opened;
      watcher.send({ type: 'subscribe', room: 'hb' });
      await watcher.next('subscribed');
      // A raw client: handshake, subscribe frame, then silence: it never answers pings.
      const { socket } = await rawWsSubscriber(s.port, 'zombie', 'hb');
      await watcher.next('join', (f) => (f.from as { name: string }).name === 'zombie');
      assert.equal(s.server.context.connections.size, 2);
      let closedByServer = false;
      socket.on('close', () => (closedByServer = true));
      await waitFor(() => closedByServer, 2000, 'the server to drop the silent peer');
      await waitFor(() => s.server.context.connections.size === 1);
      await watcher.next('leave', (f) => (f.from as { name: string }).name === 'zombie', 2000);
      // The live client that answers pings is still there.
      watcher.send({ type: 'ping', id: 'alive' });
      await watcher.next('pong', (f) => f.id === 'alive');
      watcher.close();
    } finally {
      await s.server.close();
    }
  });

  it('the heartbeat pings its WebSockets spread over the interval, each once, not all at once', async () => {
    const s = await startServer({ heartbeatMs: 1000 });
    const sockets: WsProbe[] = [];
    try {
      const started = performance.now();
      const firstPing = new Map<number, number>();
      for (let i = 0; i < 40; i++) {
        const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=p${i}`);
        ws.ws.on('ping', () => firstPing.has(i) || firstPing.set(i, performance.now() - started));
        await ws.opened;
        sockets.push(ws);
      }
      await waitFor(() => firstPing.size === 40, 3000, 'a ping to each');
      const first = [...firstPing.values()];
      // Four slots of 250 ms: ten sockets a tick. One timer pinging all of them: one burst of 40.
      const bursts = new Set(first.map((at) => Math.round(at / 50)));
      assert.ok(bursts.size >= 3, `pings at ${first.map((t) => t.toFixed(0)).join(' ')} ms`);
      assert.ok(Math.max(...first) - Math.min(...first) >= 500, `spread over ${(Math.max(...first) - Math.min(...first)).toFixed(0)} ms`);
    } finally {
      for (const ws of sockets) ws.close();
      await s.server.close();
    }
  });

  it('a WebSocket whose reader stopped is cut after writeTimeoutMs (WRITE_TIMEOUT); a reading one in the same room goes on', { timeout: 20_000 }, async () => {
    // The heartbeat and the buffer cap far away: the write deadline is what must cut it.
    const s = await startServer({ writeTimeoutMs: 1500, heartbeatMs: 60_000, maxBufferedBytes: 256 * 1024 * 1024, maxMessageBytes: 65536, rateLimitPerSecond: 10_000, rateLimitBurst: 10_000 });
    try {
      await request(`${s.url}/api/rooms/stuck`, { method: 'PUT' });
      const live = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=live`);
      await live.opened;
      live.send({ type: 'subscribe', room: 'stuck' });
      await live.next('subscribed');
      const { socket, received } = await rawWsSubscriber(s.port, 'stuck', 'stuck');
      await waitFor(() => received().includes(Buffer.from('"subscribed"')));
      socket.pause(); // and never reads again
      assert.equal(s.server.context.connections.size, 2);
      // ~18 MB: more than the loopback buffers hold (they grow to several MB), so the server's writes to it really stall.
      const text = 'x'.repeat(60 * 1024);
      for (let i = 0; i < 300; i++) assert.equal((await request(`${s.url}/api/rooms/stuck/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `${i}${text}` }) })).status, 201);
      const published = Date.now();
      await waitFor(() => live.frames.filter((f) => f.type === 'message').length === 300, 10_000, "the reading client got all 300");
      await waitFor(() => s.server.context.connections.size === 1, 8000, 'the stalled WebSocket cut');
      const took = Date.now() - published;
      assert.ok(took < 6000, `cut ${took} ms after the last publish`);
      assert.match(await (await fetch(`${s.url}/metrics`)).text(), /switchboard_errors_total\{code="WRITE_TIMEOUT"\} 1/);
      // The reader that read is still served.
      assert.equal((await request(`${s.url}/api/rooms/stuck/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'after' }) })).status, 201);
      await live.next('message', (f) => f.text === 'after');
      socket.destroy();
      live.close();
    } finally {
      await s.server.close();
    }
  });

  it('graceful shutdown: WebSocket close 1001, SSE ended with a reconnect hint, held polls answered, all within the deadline', async () => {
    const shutdownTimeoutMs = 5000;
    const s = await startServer({ shutdownTimeoutMs });
    await request(`${s.url}/api/rooms/bye`, { method: 'PUT' });
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    await ws.opened;
    ws.send({ type: 'subscribe', room: 'bye' });
    await ws.next('subscribed');
    const seedWs = new WsProbe(`ws://127.0.0.1:${s.port}/`);
    await seedWs.opened;
    const sse = new SseProbe(`${s.url}/api/rooms/bye/events`);
    await sse.ready;
    const start = (await request(`${s.url}/api/rooms/bye/poll`)).json() as PollResult;
    // A presence notice (the arrivals of the WebSocket and the stream, gathered, then at most one a
    // second) answers a held long poll: on a busy machine it may come after the poll is held. Held
    // again until one stays held.
    let held: Promise<HttpAnswer> | undefined;
    for (let tries = 0; held === undefined; tries++) {
      let answered = false;
      const poll = request(`${s.url}/api/rooms/bye/longpoll?after=${start.cursor}&timeout=60000`).finally(() => (answered = true));
      await waitFor(() => answered || s.server.context.connections.size === 4, 5000, 'the long poll held, or answered');
      if (!answered) held = poll;
      else {
        const early = (await poll).json() as PollResult;
        assert.ok(early.entries.length === 0 && early.presenceAt !== undefined && tries < 5, `a long poll answered before the shutdown: ${JSON.stringify(early)}`);
      }
    }
    const t0 = Date.now();
    await s.server.close();
    const took = Date.now() - t0;
    // Every connection ended by the shutdown, none waited out: well before the deadline (half of it, for a busy machine).
    assert.ok(took < shutdownTimeoutMs / 2, `shutdown took ${took} ms`);
    assert.equal(await ws.closed, 1001);
    assert.equal(await seedWs.closed, 1001);
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.deepEqual((answer.json() as PollResult).entries, []);
    await waitFor(() => sse.ended);
    assert.ok(sse.events.some((e) => e.event === 'shutdown'));
    assert.match(sse.raw, /retry: \d+\n\n$/);
    // Nothing is accepted any more.
    await assert.rejects(request(`${s.url}/healthz`));
  });
});
