import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { SseProbe, WsProbe, postJson, rawTcp, request, startServer, waitFor } from './helpers.js';

type Started = Awaited<ReturnType<typeof startServer>>;

/** The lecture's own handshake, typed into `nc`: no Host header. */
const NC_HANDSHAKE = 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-Websocket-Version: 13\r\n\r\n';

/** A tiny cookie jar: what the answer sets, merged into what was sent. */
function cookieOf(answer: { headers: { 'set-cookie'?: string[] } }, previous = ''): string {
  const jar = new Map(previous.split('; ').filter(Boolean).map((c) => [c.split('=')[0]!, c] as const));
  for (const line of answer.headers['set-cookie'] ?? []) {
    const pair = line.split(';')[0]!;
    jar.set(pair.split('=')[0]!, pair);
  }
  return [...jar.values()].join('; ');
}

describe("the lecture's wire contract", () => {
  let s: Started;
  before(async () => {
    s = await startServer({ longPollTimeoutMs: 400 });
  });
  after(async () => s.server.close());

  it('raw nc handshake without Host gets 101, the RFC 6455 accept key and a welcome frame', async () => {
    const { socket, received } = await rawTcp(s.port, NC_HANDSHAKE);
    await waitFor(() => received().includes(Buffer.from('Welcome')), 3000, 'welcome frame');
    const text = received().toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    const expected = createHash('sha1').update('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    assert.equal(expected, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const frameStart = received().indexOf(Buffer.from('\r\n\r\n')) + 4;
    const frame = received().subarray(frameStart);
    assert.equal(frame[0], 0x81, 'a final text frame');
    const payload = JSON.parse(frame.subarray(2, 2 + (frame[1]! & 0x7f)).toString('utf8')) as { text: string; timestamp: number };
    assert.match(payload.text, /Welcome/);
    assert.equal(typeof payload.timestamp, 'number');
    socket.destroy();
  });

  it('WebSocket at /: welcome, then every text is relayed as {text, timestamp} to every client, the sender included', async () => {
    const got: Record<string, string[]> = { a: [], b: [] };
    const open = (key: 'a' | 'b'): Promise<WebSocket> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${s.port}`);
        ws.on('message', (d) => got[key]!.push(String(d)));
        ws.on('open', () => resolve(ws));
      });
    const a = await open('a');
    const b = await open('b');
    await waitFor(() => got.a!.length >= 1 && got.b!.length >= 1);
    a.send('Hello');
    await waitFor(() => got.a!.length >= 2 && got.b!.length >= 2);
    for (const frames of [got.a!, got.b!]) {
      const m = JSON.parse(frames[1]!) as Record<string, unknown>;
      assert.deepEqual(Object.keys(m), ['text', 'timestamp']);
      assert.equal(m.text, 'Hello');
    }
    a.close();
    b.close();
  });

  it('WebSocket at /: answers come in the order of the frames: a refusal after the relay of the message before it', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/`);
    await ws.opened;
    await waitFor(() => ws.frames.length >= 1, 3000, 'the welcome');
    // Subscribed to the room once a message of another client reaches it.
    await postJson(`${s.url}/update`, { text: 'order-ready' });
    await waitFor(() => ws.frames.some((f) => f.text === 'order-ready'), 3000, 'the subscription');
    for (let i = 0; i < 10; i++) {
      ws.ws.send(`order ${i}`);
      ws.ws.send('');
    }
    await waitFor(() => ws.frames.filter((f) => f.code === 'TEXT_REQUIRED').length === 10, 5000, 'ten refusals');
    const seen = ws.frames.filter((f) => f.code === 'TEXT_REQUIRED' || String(f.text).startsWith('order ')).map((f) => (f.code === undefined ? f.text : f.code));
    assert.deepEqual(seen, Array.from({ length: 10 }, (_, i) => [`order ${i}`, 'TEXT_REQUIRED']).flat());
    ws.close();
  });

  it('POST /update publishes; 400 with {error} when text is missing or the body is not JSON; 415 unless sent as JSON', async () => {
    const ok = await postJson(`${s.url}/update`, { text: 'from curl' });
    assert.equal(ok.status, 200);
    assert.deepEqual(Object.keys(ok.json() as object), ['text', 'timestamp']);
    const missing = await postJson(`${s.url}/update`, { nope: 1 });
    assert.equal(missing.status, 400);
    assert.equal(typeof (missing.json() as { error: unknown }).error, 'string');
    // A form or text/plain body (what a cross-site form can send without a preflight) is refused.
    const form = await request(`${s.url}/update`, { method: 'POST', body: 'text=hi' });
    assert.equal(form.status, 415);
    assert.equal((form.json() as { code: string; error: string }).code, 'UNSUPPORTED_MEDIA_TYPE');
    const plain = await request(`${s.url}/update`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"text":"hi"}' });
    assert.equal(plain.status, 415);
    const notJson = await request(`${s.url}/update`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'text=hi' });
    assert.equal(notJson.status, 400);
    assert.equal((notJson.json() as { code: string }).code, 'BAD_JSON');
  });

  it('POST /update takes a body up to 6 × --max-message-bytes + 4 KiB, as the native routes (docs/protocol.md, Limits); past it 413', async () => {
    const small = await startServer({ maxMessageBytes: 1024 });
    try {
      // A text at the message limit whose JSON is 6 times larger, and room to spare in the body.
      const body = (pad: number): string => `{"text":"${'\\u0001'.repeat(1024)}"}${' '.repeat(pad)}`;
      const limit = 1024 * 6 + 4096;
      for (const path of ['/update', '/api/rooms/lobby/messages']) {
        const fits = await request(`${small.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(limit - body(0).length) });
        assert.equal(fits.status, path === '/update' ? 200 : 201, `${path}: ${fits.body}`);
        const over = await request(`${small.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(limit - body(0).length + 1) });
        assert.equal(over.status, 413, path);
        assert.equal((over.json() as { code: string }).code, 'MESSAGE_TOO_LARGE');
      }
    } finally {
      await small.server.close();
    }
  });

  it('GET /poll: a cursor by cookie, one message per answer, nothing lost between polls', async () => {
    const first = await request(`${s.url}/poll`);
    assert.equal(first.status, 204, 'a new client starts at the end of the log');
    let cookie = cookieOf(first as never);
    for (const t of ['p1', 'p2', 'p3']) await postJson(`${s.url}/update`, { text: t });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await request(`${s.url}/poll`, { headers: { cookie } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'application/json');
      seen.push((JSON.parse(r.body) as { text: string }).text);
      cookie = cookieOf(r as never, cookie);
    }
    assert.deepEqual(seen, ['p1', 'p2', 'p3']);
    assert.equal((await request(`${s.url}/poll`, { headers: { cookie } })).status, 204);
    // A polling lecture client that keeps its cookies counts in presence.
    const who = (await request(`${s.url}/api/rooms/lobby/presence`)).json() as { members: { name: string; transports: string[] }[] };
    assert.ok(who.members.some((m) => m.name.startsWith('guest-') && m.transports.includes('polling')));
  });

  it('GET /longpoll: held until a message; 408 at the timeout, as the lecture page expects', async () => {
    const first = await request(`${s.url}/longpoll`);
    assert.equal(first.status, 408);
    // An empty body of known length, not a chunked one (a stray `0` line in `nc`).
    assert.equal(first.headers['content-length'], '0');
    assert.equal(first.headers['transfer-encoding'], undefined);
    const cookie = cookieOf(first as never);
    const held = request(`${s.url}/longpoll`, { headers: { cookie } });
    await new Promise((r) => setTimeout(r, 100));
    await postJson(`${s.url}/update`, { text: 'lp' });
    const r = await held;
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { text: string }).text, 'lp');
  });

  it('GET /longpoll without a cookie: held at the end, it answers the first message that comes', async () => {
    const held = request(`${s.url}/longpoll`);
    await new Promise((r) => setTimeout(r, 100));
    await postJson(`${s.url}/update`, { text: 'first' });
    const r = await held;
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { text: string }).text, 'first');
  });

  it('GET /subscribe: SSE with retry, id and data; Last-Event-ID resumes', async () => {
    const sse = new SseProbe(`${s.url}/subscribe`);
    await sse.ready;
    await new Promise((r) => setTimeout(r, 50));
    await postJson(`${s.url}/update`, { text: 's1' });
    await postJson(`${s.url}/update`, { text: 's2' });
    await waitFor(() => sse.events.length >= 2);
    assert.match(sse.raw, /^retry: \d+\n/);
    assert.deepEqual(sse.events.map((e) => (JSON.parse(e.data) as { text: string }).text), ['s1', 's2']);
    assert.ok(sse.events.every((e) => e.event === 'message' && e.id));
    const lastId = sse.events[0]!.id!;
    sse.close();
    const resumed = new SseProbe(`${s.url}/subscribe`, { 'last-event-id': lastId });
    await resumed.ready;
    await waitFor(() => resumed.events.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(resumed.events.map((e) => (JSON.parse(e.data) as { text: string }).text), ['s2']);
    resumed.close();
    // An id that is not one of ours (the lecture's own server used timestamps, or garbage) starts at the end.
    const foreign = new SseProbe(`${s.url}/subscribe`, { 'last-event-id': 'not-a-cursor!' });
    await foreign.ready;
    assert.equal(foreign.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(foreign.events.length, 0);
    foreign.close();
  });

  it('the seed routes are views of the default room: native clients and lecture clients chat together', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=native`);
    await ws.opened;
    ws.send({ type: 'subscribe', room: 'lobby' });
    await ws.next('subscribed');
    await postJson(`${s.url}/update`, { text: 'from the lecture page' });
    const m = await ws.next('message', (f) => f.text === 'from the lecture page');
    assert.equal((m.from as { transport: string }).transport, 'seed');
    const lecture = new SseProbe(`${s.url}/subscribe`);
    await lecture.ready;
    await new Promise((r) => setTimeout(r, 50));
    ws.send({ type: 'publish', room: 'lobby', text: 'from the app' });
    await waitFor(() => lecture.events.some((e) => (JSON.parse(e.data) as { text?: unknown }).text === 'from the app'));
    lecture.close();
    ws.close();
  });
});

describe("the lecture's pollers and an administrator's disconnect", () => {
  it('a disconnected lecture poller gets 403 MEMBER_DISCONNECTED once, its guest cookie cleared: its next poll is a new guest, not refused for a day', async (t) => {
    const s = await startServer({ apiKey: 'the-api-key' });
    t.after(() => s.server.close());
    const first = await request(`${s.url}/poll`);
    let cookie = cookieOf(first as never);
    assert.match(cookie, /sb_guest=[^;]+/);
    await request(`${s.url}/poll`, { headers: { cookie } }); // present with its ticket
    const who = (await request(`${s.url}/api/rooms/lobby/presence`)).json() as { members: { member: string; transports: string[] }[] };
    const guest = who.members.find((m) => m.transports.includes('polling'))!.member;
    assert.equal((await request(`${s.url}/api/rooms/lobby/members/${guest}`, { method: 'DELETE', headers: { authorization: 'Bearer the-api-key' } })).status, 204);
    const refused = await request(`${s.url}/poll`, { headers: { cookie } });
    assert.deepEqual([refused.status, (refused.json() as { code: string }).code], [403, 'MEMBER_DISCONNECTED']);
    cookie = cookieOf(refused as never, cookie);
    assert.match(cookie, /sb_guest=(;|$)/, 'the guest cookie is cleared');
    // The page polls on, as the lecture's does: a new guest, let through.
    const again = await request(`${s.url}/poll`, { headers: { cookie } });
    assert.equal(again.status, 204);
    cookie = cookieOf(again as never, cookie);
    assert.equal((await request(`${s.url}/poll`, { headers: { cookie } })).status, 204);
    // A long poll of the disconnected ticket too.
    const before = cookieOf(first as never);
    const held = await request(`${s.url}/longpoll`, { headers: { cookie: before } });
    assert.equal(held.status, 403);
    assert.match(cookieOf(held as never, before), /sb_guest=(;|$)/);
  });
});

describe("the lecture's POST /update under an application's onPublish hook", () => {
  it('answers with the text stored, not the text sent, when the hook changed it', async () => {
    const s = await startServer({ hooks: { onPublish: ({ message }) => ({ text: message.text.toUpperCase() }) } });
    try {
      const first = await request(`${s.url}/poll`);
      const answer = await postJson(`${s.url}/update`, { text: 'hello' });
      assert.equal(answer.status, 200, answer.body);
      assert.equal((answer.json() as { text: string }).text, 'HELLO');
      const polled = await request(`${s.url}/poll`, { headers: { cookie: cookieOf(first as never) } });
      assert.equal((JSON.parse(polled.body) as { text: string }).text, 'HELLO', 'what the other clients get');
    } finally {
      await s.server.close();
    }
  });
});
