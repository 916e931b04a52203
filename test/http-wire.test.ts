/**
 * What a client sees of HTTP/1.1 at the wire: pipelining past the cap, and requests node's parser
 * refuses. Every refusal is an answer with a catalog error body, after the answers owed before it.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { postJson, rawTcp, request, startServer, waitFor } from './helpers.js';

type Started = Awaited<ReturnType<typeof startServer>>;

/** The HTTP answers in `text`, in order: status and body of each (bodies have a content-length). */
function answers(text: string): { status: number; headers: string; body: string }[] {
  const found: { status: number; headers: string; body: string }[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const headers = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    found.push({ status: Number(headers.slice(9, 12)), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return found;
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

describe('HTTP/1.1 at the wire', () => {
  let s: Started;
  before(async () => {
    s = await startServer();
  });
  after(async () => s.server.close());

  it('past 4 pipelined requests: the 4 are answered, the 5th gets 429 TOO_MANY_CONNECTIONS_FROM_YOU and Connection: close, the rest are not run', async () => {
    const { socket, received } = await rawTcp(s.port, get('/healthz').repeat(5) + `PUT /api/rooms/behind-the-cap HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
    const got = answers(received().toString());
    assert.deepEqual(got.map((a) => a.status), [200, 200, 200, 200, 429], received().toString());
    assert.equal((JSON.parse(got[4]!.body) as { code: string }).code, 'TOO_MANY_CONNECTIONS_FROM_YOU');
    assert.match(got[4]!.headers, /\r\nConnection: close/i);
    assert.equal(await s.server.hub.store.getRoom('behind-the-cap'), undefined, 'the request behind the refusal was not run');
  });

  it('after the refusal, nothing more of the connection is read', async () => {
    let serverSide: net.Socket | undefined;
    s.server.http.once('connection', (so: net.Socket) => (serverSide = so));
    // Five held long polls: the refusal waits behind four answers that do not come yet.
    const poll = '/api/rooms/lobby/longpoll?timeout=1500';
    const { socket, received } = await rawTcp(s.port, get(poll).repeat(5));
    await waitFor(() => serverSide !== undefined && serverSide.bytesRead > 0, 5000, 'the requests read');
    await new Promise((r) => setTimeout(r, 100));
    const read = serverSide!.bytesRead;
    socket.write(get('/healthz').repeat(200));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(serverSide!.bytesRead, read, 'bytes sent after the refusal were read');
    await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
    assert.deepEqual(answers(received().toString()).map((a) => a.status), [200, 200, 200, 200, 429]);
  });

  it('a valid request and malformed bytes in one packet: the request is answered, then 400 BAD_REQUEST with a catalog body, then the connection closes', async () => {
    const { socket, received } = await rawTcp(s.port, `${get('/healthz')}GARBAGE\r\n\r\n`);
    await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
    const got = answers(received().toString());
    assert.deepEqual(got.map((a) => a.status), [200, 400], received().toString());
    assert.equal((JSON.parse(got[1]!.body) as { code: string }).code, 'BAD_REQUEST');
    assert.match(got[1]!.headers, /\r\nConnection: close/i);
  });

  it('a URL longer than the 16 KiB of request line and headers gets 431 HEADERS_TOO_LARGE with a catalog body', async () => {
    const { socket, received } = await rawTcp(s.port, get(`/api/rooms/${'a'.repeat(17_000)}`));
    await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
    const got = answers(received().toString());
    assert.deepEqual(got.map((a) => a.status), [431], received().toString().slice(0, 300));
    assert.match(got[0]!.headers, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.equal((JSON.parse(got[0]!.body) as { code: string }).code, 'HEADERS_TOO_LARGE');
  });

  it('malformed bytes behind a held long poll: the 400 waits for the poll\'s answer', async () => {
    const { socket, received } = await rawTcp(s.port, `${get('/api/rooms/lobby/longpoll?timeout=300')}GARBAGE\r\n\r\n`);
    await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
    const got = answers(received().toString());
    assert.deepEqual(got.map((a) => a.status), [200, 400], received().toString());
    assert.deepEqual((JSON.parse(got[0]!.body) as { entries: unknown[] }).entries, []);
  });
});

describe('HEAD at the wire', () => {
  let s: Started;
  before(async () => {
    s = await startServer();
    await request(`${s.url}/api/rooms/head-room`, { method: 'PUT' });
    await postJson(`${s.url}/api/rooms/head-room/messages`, { text: 'one' });
  });
  after(async () => s.server.close());

  it("HEAD is answered wherever GET is: the GET's status and headers (Content-Length too), no body", async () => {
    for (const path of ['/api/rooms/head-room', '/api/rooms/head-room/messages', '/api/rooms/head-room/poll?after=0', '/api/rooms/head-room/presence', '/api/rooms', '/api/auth', '/healthz', '/readyz', '/api/rooms/nope']) {
      const get = await request(`${s.url}${path}`);
      const head = await request(`${s.url}${path}`, { method: 'HEAD' });
      assert.equal(head.status, get.status, path);
      for (const name of ['content-type', 'content-length', 'cache-control', 'x-content-type-options']) assert.equal(head.headers[name], get.headers[name], `${path}: ${name}`);
      assert.equal(head.body, '', path);
    }
    // A route with no GET: 405, as before.
    assert.equal((await request(`${s.url}/update`, { method: 'HEAD' })).status, 405);
    // On the wire: no body bytes, so the next answer on the connection comes right after the head.
    const { socket, received } = await rawTcp(s.port, `HEAD /api/rooms/head-room HTTP/1.1\r\nHost: x\r\n\r\n${get('/healthz')}`);
    await waitFor(() => received().toString().includes('{"status":"ok"}'), 5000, 'both answers');
    const text = received().toString();
    const first = text.slice(0, text.indexOf('\r\n\r\n') + 4);
    assert.match(first, /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: \d+\r\n/i);
    assert.ok(text.slice(first.length).startsWith('HTTP/1.1 200 OK\r\n'), text);
    socket.destroy();
  });

  it('HEAD on the long-poll and SSE routes answers at once with their head: nothing held, streamed, joined or moved', async () => {
    const timed = async (path: string, headers: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof request>>> => {
      const started = Date.now();
      const answer = await request(`${s.url}${path}`, { method: 'HEAD', headers });
      assert.ok(Date.now() - started < 2000, `${path} took ${Date.now() - started} ms`);
      assert.equal(answer.body, '', path);
      return answer;
    };
    const longpoll = await timed('/api/rooms/head-room/longpoll?after=0');
    assert.equal(longpoll.status, 200);
    assert.equal(longpoll.headers['content-length'], (await request(`${s.url}/api/rooms/head-room/poll?after=0`)).headers['content-length'], 'what a GET with timeout=0 answers');
    for (const path of ['/api/rooms/head-room/events', '/subscribe']) {
      const sse = await timed(path);
      assert.equal(sse.status, 200, path);
      assert.match(String(sse.headers['content-type']), /^text\/event-stream/, path);
    }
    // Checked as the GET is.
    assert.equal((await timed('/api/rooms/nope/events')).status, 404);
    assert.equal((await timed('/api/rooms/head-room/events?after=zz:zz')).status, 400);
    assert.equal((await timed('/api/rooms/head-room/longpoll?timeout=0x10')).status, 400);
    assert.equal(s.server.context.connections.size, 0, 'no connection held');
    assert.deepEqual(await s.server.hub.presence.snapshot('head-room', 10), [], 'no one joined');
    // The lecture's polls: the head of the answer, no cookie, the cursor where it was.
    const first = await request(`${s.url}/poll`);
    const cookie = String(first.headers['set-cookie']![0]).split(';')[0]!;
    await postJson(`${s.url}/update`, { text: 'waiting' });
    for (const path of ['/poll', '/longpoll']) {
      const head = await timed(path, { cookie });
      assert.equal(head.status, 200, path);
      assert.equal(head.headers['set-cookie'], undefined, path);
    }
    const poll = await request(`${s.url}/poll`, { headers: { cookie } });
    assert.equal((poll.json() as { text: string }).text, 'waiting', 'the message is still there for the GET');
  });
});

describe('HTTP/1.1 deadlines at the wire', () => {
  it('a request whose headers do not come whole in time gets 408 REQUEST_TIMEOUT with a catalog body', async () => {
    const s = await startServer({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    try {
      const { socket, received } = await rawTcp(s.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
      await waitFor(() => socket.destroyed || socket.readableEnded, 5000, 'the connection to close');
      const got = answers(received().toString());
      assert.deepEqual(got.map((a) => a.status), [408], received().toString());
      assert.equal((JSON.parse(got[0]!.body) as { code: string }).code, 'REQUEST_TIMEOUT');
    } finally {
      await s.server.close();
    }
  });
});
