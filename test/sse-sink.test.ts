/**
 * SseSink over HTTP/1.1: a batch goes out as one chunk, built once for every stream and written
 * straight to the socket; the wire stays a valid chunked answer, in order, also when the stream
 * waits behind an earlier answer of a pipelined connection, and a stream that stops reading is
 * still cut at the buffer bound.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SseKeepalive } from '../src/server/transports/sse-keepalive.js';
import { chunkOf } from '../src/server/transports/sse-sink.js';
import { postJson, rawTcp, request, startServer, waitFor, type HttpAnswer } from './helpers.js';

/** One HTTP/1.1 answer read strictly from raw bytes: status, headers, and the body (de-chunked when chunked). */
function readAnswer(bytes: Buffer, from = 0): { status: number; headers: Record<string, string>; body: string; end: number; complete: boolean } {
  const text = bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n', from);
  assert.ok(headEnd >= 0, 'a whole head');
  const [statusLine, ...lines] = text.slice(from, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number(statusLine!.split(' ')[1]);
  let at = headEnd + 4;
  if (headers['content-length'] !== undefined) {
    const end = at + Number(headers['content-length']);
    return { status, headers, body: Buffer.from(text.slice(at, end), 'latin1').toString('utf8'), end, complete: end <= text.length };
  }
  assert.equal(headers['transfer-encoding'], 'chunked');
  let body = '';
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    if (eol < 0) return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), end: at, complete: false };
    const sizeText = text.slice(at, eol);
    assert.match(sizeText, /^[0-9a-f]+$/, `a chunk size line, not ${JSON.stringify(sizeText.slice(0, 40))}`);
    const size = parseInt(sizeText, 16);
    if (eol + 2 + size + 2 > text.length) return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), end: at, complete: false };
    body += text.slice(eol + 2, eol + 2 + size);
    assert.equal(text.slice(eol + 2 + size, eol + 4 + size), '\r\n', 'CRLF after the chunk data');
    at = eol + 4 + size;
    if (size === 0) return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8'), end: at, complete: true };
  }
}

/** The `message` events of an SSE body: their ids and texts, in order. */
function messages(body: string): { id: string; text: string }[] {
  const out: { id: string; text: string }[] = [];
  for (const block of body.split('\n\n')) {
    const lines = block.split('\n');
    if (!lines.includes('event: message')) continue;
    const id = lines.find((l) => l.startsWith('id: '))!.slice(4);
    const data = JSON.parse(lines.find((l) => l.startsWith('data: '))!.slice(6)) as { text: string };
    out.push({ id, text: data.text });
  }
  return out;
}

describe('SseSink over HTTP/1.1', () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.server.close();
  });

  it('chunkOf frames data as one chunk, built once per buffer', () => {
    const data = Buffer.from('id: x\nevent: message\ndata: {"text":"é"}\n\n', 'utf8');
    const chunk = chunkOf(data);
    assert.equal(chunk.toString('latin1'), `${data.length.toString(16)}\r\n${data.toString('latin1')}\r\n`);
    assert.equal(chunkOf(data), chunk, 'the same Buffer for every stream');
  });

  it('streams get every batch as a valid chunked answer, in order, the same bytes on each', async () => {
    assert.equal((await request(`${s.url}/api/rooms/chunks`, { method: 'PUT' })).status, 201);
    const streams = await Promise.all([0, 1, 2].map(() => rawTcp(s.port, 'GET /api/rooms/chunks/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')));
    try {
      await waitFor(() => streams.every((st) => st.received().includes('event: ready')), 3000, 'ready on every stream');
      const texts = ['one', 'twö', 'x'.repeat(30_000), 'four'];
      for (const text of texts) assert.equal((await postJson(`${s.url}/api/rooms/chunks/messages`, { text })).status, 201);
      await waitFor(() => streams.every((st) => messages(readAnswer(st.received()).body).length === texts.length), 3000, 'every message on every stream');
      const bodies = streams.map((st) => readAnswer(st.received()));
      for (const b of bodies) {
        assert.equal(b.status, 200);
        assert.equal(b.headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.deepEqual(
          messages(b.body).map((m) => m.text),
          texts,
        );
      }
      assert.equal(new Set(bodies.map((b) => JSON.stringify(messages(b.body)))).size, 1, 'the same events, same ids, on each stream');
    } finally {
      for (const st of streams) st.socket.destroy();
    }
  });

  it("a stream's head carries the router's common and CORS headers, and node keeps no header map once it is written", async () => {
    const answers: import('node:http').ServerResponse[] = [];
    const onRequest = (_req: unknown, res: import('node:http').ServerResponse): void => void answers.push(res);
    s.server.http.on('request', onRequest);
    const st = await rawTcp(s.port, 'GET /api/rooms/lobby/events HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nAccept: text/event-stream\r\n\r\n');
    try {
      await waitFor(() => st.received().includes('event: ready'), 3000, 'ready');
      const { headers } = readAnswer(st.received());
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['referrer-policy'], 'no-referrer');
      assert.equal(headers['access-control-allow-origin'], '*');
      assert.equal(headers['cache-control'], 'no-cache, no-transform');
      assert.equal(headers.connection, 'keep-alive');
      const res = answers.find((r) => r.headersSent)!;
      assert.deepEqual(res.getHeaderNames(), [], 'no header map held for the open stream');
    } finally {
      s.server.http.off('request', onRequest);
      st.socket.destroy();
    }
  });

  it('a stream pipelined behind a held long poll comes after that answer, whole', async () => {
    assert.equal((await request(`${s.url}/api/rooms/piped`, { method: 'PUT' })).status, 201);
    const { cursor } = (await request(`${s.url}/api/rooms/piped/poll`)).json() as { cursor: string };
    // Both requests in one write: the long poll is held until a message comes, and the SSE answer
    // queues behind it (HTTP/1.1 answers go out in request order) while its stream already gets events.
    const st = await rawTcp(
      s.port,
      `GET /api/rooms/piped/longpoll?after=${cursor}&timeout=10000 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/rooms/piped/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
    );
    try {
      await waitFor(() => s.server.hub.subscriberCount >= 2, 3000, 'the long poll and the stream subscribed');
      for (const text of ['first', 'second', 'third']) assert.equal((await postJson(`${s.url}/api/rooms/piped/messages`, { text })).status, 201);
      await waitFor(
        () => {
          const poll = readAnswer(st.received());
          return poll.complete && st.received().length > poll.end && messages(readAnswer(st.received(), poll.end).body).length === 3;
        },
        3000,
        'the long poll answer, then three events',
      );
      const poll = readAnswer(st.received());
      assert.equal(poll.status, 200);
      assert.equal((JSON.parse(poll.body) as { entries: { text: string }[] }).entries[0]!.text, 'first');
      const stream = readAnswer(st.received(), poll.end);
      assert.equal(stream.status, 200);
      assert.deepEqual(
        messages(stream.body).map((m) => m.text),
        ['first', 'second', 'third'],
      );
    } finally {
      st.socket.destroy();
    }
  });

  it('a stream that stops reading is cut once its buffers pass maxBufferedBytes', async () => {
    const small = await startServer({ maxBufferedBytes: 256 * 1024, rateLimitPerSecond: 1000, rateLimitBurst: 1000 });
    const serverSockets: net.Socket[] = [];
    const onConnection = (so: net.Socket): void => void serverSockets.push(so);
    small.server.http.on('connection', onConnection);
    const st = await rawTcp(small.port, 'GET /api/rooms/lobby/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    try {
      await waitFor(() => st.received().includes('event: ready'), 3000, 'ready');
      const streamSocket = serverSockets[0]!;
      small.server.http.off('connection', onConnection);
      st.socket.pause();
      const text = 'y'.repeat(60_000);
      let maxBuffered = 0;
      const answers: HttpAnswer[] = [];
      // Far more than the kernel's loopback buffers and the bound hold together.
      for (let i = 0; i < 200 && !streamSocket.destroyed; i++) {
        answers.push(await postJson(`${small.url}/api/rooms/lobby/messages`, { text }));
        maxBuffered = Math.max(maxBuffered, streamSocket.writableLength);
      }
      await waitFor(() => streamSocket.destroyed, 3000, 'the non-reading stream cut');
      assert.ok(answers.every((a) => a.status === 201));
      // The bound is checked before each write: one batch past it at most.
      assert.ok(maxBuffered <= 256 * 1024 + 70_000, `${maxBuffered} bytes held for the stream`);
      assert.equal(small.server.hub.subscriberCount, 0);
    } finally {
      st.socket.destroy();
      await small.server.close();
    }
  });

  it('keepalive comments come every sseKeepaliveMs from one timer for all streams, which stops with the last stream', async () => {
    const quick = await startServer({ sseKeepaliveMs: 150 });
    const streams = await Promise.all([0, 1].map(() => rawTcp(quick.port, 'GET /api/rooms/lobby/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n')));
    try {
      await waitFor(() => streams.every((st) => st.received().includes('event: ready')), 3000, 'ready');
      assert.equal(SseKeepalive.of(150).size, 2);
      const started = Date.now();
      await waitFor(() => streams.every((st) => readAnswer(st.received()).body.split(': keepalive\n\n').length - 1 >= 3), 3000, 'three keepalives on each stream');
      // The first within 150 ms of the open, then every 150 ms: three take 300 to 450 ms (and some slack for a busy machine).
      assert.ok(Date.now() - started >= 250, `three keepalives in ${Date.now() - started} ms`);
      for (const st of streams) assert.equal(readAnswer(st.received()).complete, false, 'a valid chunked answer, still open');
      streams[0]!.socket.destroy();
      await waitFor(() => SseKeepalive.of(150).size === 1, 3000, 'the closed stream dropped');
    } finally {
      for (const st of streams) st.socket.destroy();
      await quick.server.close();
    }
    assert.equal(SseKeepalive.of(150).size, 0, 'no stream left, no timer');
  });

  it('a keepalive round drops the streams that are over', async () => {
    const keepalive = SseKeepalive.of(40);
    let live = 0;
    const over = { spreadSlot: -1, keepalive: () => false };
    const alive = { spreadSlot: -1, keepalive: () => (live++, true) };
    keepalive.add(over);
    keepalive.add(alive);
    await waitFor(() => live >= 2, 2000, 'two rounds');
    assert.equal(keepalive.size, 1);
    keepalive.delete(alive);
    assert.equal(keepalive.size, 0);
  });
});
