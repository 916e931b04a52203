import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../src/client/index.js';
import type { Client, MessageEntry } from '../src/client/types.js';
import type { Entry, HistoryPage, JsonValue, PollResult } from '../src/protocol/types.js';
import { TRANSPORTS } from '../src/protocol/types.js';
import { SseProbe, WsProbe, postJson, request, startServer, waitFor } from './helpers.js';

type Started = Awaited<ReturnType<typeof startServer>>;

const LIMIT = 300;
const DATA: JsonValue = { move: { from: 'e2', to: 'e4' }, n: 1.5, flags: [true, false, null], nested: [[1], { k: '값 🐻' }], empty: {} };

/** A raw JSON body (for strings JSON.stringify cannot write, such as a lone surrogate). */
function postRaw(url: string, body: string): ReturnType<typeof request> {
  return request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
}

function codeOf(answer: { json: () => unknown }): string {
  return (answer.json() as { code: string }).code;
}

describe('message payloads: data and event', () => {
  let s: Started;
  const messages = (room: string): string => `${s.url}/api/rooms/${room}/messages`;
  before(async () => {
    s = await startServer({ maxMessageBytes: LIMIT, rateLimitPerSecond: 1000, rateLimitBurst: 1000 });
    for (const room of ['p', 'checks', 'retry']) await request(`${s.url}/api/rooms/${room}`, { method: 'PUT' });
  });
  after(async () => s.server.close());

  it('a message with data reaches WebSocket, SSE, long-poll and short-poll subscribers intact, and is in history', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ws`);
    await ws.opened;
    ws.send({ type: 'subscribe', id: 's', room: 'p' });
    await ws.next('subscribed');
    const sse = new SseProbe(`${s.url}/api/rooms/p/events?name=sse`);
    await sse.ready;
    await waitFor(() => sse.events.some((e) => e.event === 'ready'));
    const start = ((await request(`${s.url}/api/rooms/p/poll`)).json() as PollResult).cursor;
    const held = request(`${s.url}/api/rooms/p/longpoll?after=${start}`);
    await new Promise((r) => setTimeout(r, 100));

    // Over REST: text, data and event.
    const rest = await postJson(messages('p'), { text: 'with data', data: DATA, event: 'game:move', clientId: 'd-1' });
    assert.equal(rest.status, 201, rest.body);
    // Over a WebSocket frame: data only, with an event.
    ws.send({ type: 'publish', id: 'p2', room: 'p', data: [1, 'two'], event: 'list', clientId: 'd-2' });
    assert.equal((await ws.next('ack', (f) => f.id === 'p2')).duplicate, false);

    const expected = [
      { text: 'with data', data: DATA, event: 'game:move' },
      { text: '', data: [1, 'two'], event: 'list' },
    ];
    const payloads = (entries: Entry[]): unknown[] =>
      entries.filter((e): e is MessageEntry => e.type === 'message').map((e) => ({ text: e.text, data: e.data, event: e.event }));

    await waitFor(() => ws.of('message').length >= 2, 5000, 'WebSocket entries');
    assert.deepEqual(payloads(ws.of('message') as unknown as Entry[]), expected);
    await waitFor(() => sse.events.filter((e) => e.event === 'message').length >= 2, 5000, 'SSE entries');
    assert.deepEqual(payloads(sse.events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as Entry)), expected);
    const longPolled = (await held).json() as PollResult;
    const more = longPolled.entries.length < 2 ? ((await request(`${s.url}/api/rooms/p/longpoll?after=${longPolled.cursor}`)).json() as PollResult).entries : [];
    assert.deepEqual(payloads([...longPolled.entries, ...more]), expected);
    const polled = (await request(`${s.url}/api/rooms/p/poll?after=${start}`)).json() as PollResult;
    assert.deepEqual(payloads(polled.entries), expected);
    const history = (await request(messages('p'))).json() as HistoryPage;
    assert.deepEqual(payloads(history.entries), expected);
    // Absent keys stay absent: a text message has no data or event key.
    await postJson(messages('p'), { text: 'plain' });
    const plain = ((await request(`${messages('p')}?limit=1`)).json() as HistoryPage).entries[0]!;
    assert.deepEqual(Object.keys(plain).sort(), ['from', 'room', 'seq', 'text', 'ts', 'type']);
    ws.close();
    sse.close();
  });

  it('refuses a message with neither text nor data (TEXT_REQUIRED), on REST and WebSocket', async () => {
    for (const body of [{}, { text: '' }, { event: 'only-an-event' }, { text: '', data: null }]) {
      const r = await postJson(messages('checks'), body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(codeOf(r), 'TEXT_REQUIRED', JSON.stringify(body));
    }
    // data: null is no data: a text message with it is stored without it.
    const withNull = await postJson(messages('checks'), { text: 'null data', data: null });
    assert.equal(withNull.status, 201);
    const stored = ((await request(`${messages('checks')}?limit=1`)).json() as HistoryPage).entries[0]!;
    assert.equal('data' in stored, false);
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    await ws.opened;
    ws.send({ type: 'publish', id: 'x', room: 'checks', event: 'nothing' });
    assert.equal((await ws.next('error', (f) => f.id === 'x')).code, 'TEXT_REQUIRED');
    ws.close();
  });

  it('counts the JSON of data in the size limit (413), refuses lone surrogates in data (INVALID_UTF8), bad event names and deep data (BAD_REQUEST)', async () => {
    const fits = await postJson(messages('checks'), { text: 'x'.repeat(100), data: 'y'.repeat(LIMIT - 100 - 2) });
    assert.equal(fits.status, 201, fits.body);
    const tooLarge = await postJson(messages('checks'), { text: 'x'.repeat(100), data: 'y'.repeat(LIMIT - 100 - 1) });
    assert.equal(tooLarge.status, 413);
    assert.equal(codeOf(tooLarge), 'MESSAGE_TOO_LARGE');
    const dataOnly = await postJson(messages('checks'), { data: { list: Array.from({ length: 120 }, (_, i) => i) } });
    assert.equal(dataOnly.status, 413);
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    await ws.opened;
    ws.send({ type: 'publish', id: 'big', room: 'checks', data: 'z'.repeat(LIMIT) });
    assert.equal((await ws.next('error', (f) => f.id === 'big')).code, 'MESSAGE_TOO_LARGE');
    ws.close();

    for (const body of ['{"data":{"k":"\\ud800"}}', '{"data":["ok","\\udc00x"]}', '{"data":{"\\ud800":1}}']) {
      const r = await postRaw(messages('checks'), body);
      assert.equal(r.status, 400, body);
      assert.equal(codeOf(r), 'INVALID_UTF8', body);
    }
    for (const event of ['', 'has space', 'x'.repeat(65), 'é']) {
      const r = await postJson(messages('checks'), { text: 'hi', event });
      assert.equal(r.status, 400, event);
      assert.equal(codeOf(r), 'BAD_REQUEST', event);
    }
    assert.equal((await postJson(messages('checks'), { text: 'hi', event: 'A-z_0.9:x' })).status, 201);
    const deep = `{"data":${'['.repeat(100)}${']'.repeat(100)}}`;
    const tooDeep = await postRaw(messages('checks'), deep);
    assert.equal(tooDeep.status, 400);
    assert.equal(codeOf(tooDeep), 'BAD_REQUEST');
    // Pathological nesting within the byte limit is refused too, without a crash.
    const deeper = await postRaw(messages('checks'), `{"data":${'['.repeat(LIMIT * 2)}${']'.repeat(LIMIT * 2)}}`);
    assert.equal(deeper.status, 400);
  });

  it('a retry with the same clientId must carry the same data and event (else CLIENT_ID_CONFLICT)', async () => {
    const body = { text: 'move', data: { a: 1, b: [1, 2] }, event: 'chess', clientId: 'r-1', member: 'dana' };
    const first = await postJson(messages('retry'), body);
    assert.equal(first.status, 201);
    // The same message, keys in another order: a duplicate.
    const same = await postJson(messages('retry'), { ...body, data: { b: [1, 2], a: 1 } });
    assert.equal(same.status, 200);
    assert.equal((same.json() as { duplicate: boolean }).duplicate, true);
    for (const changed of [{ data: { a: 2, b: [1, 2] } }, { data: { a: 1, b: [2, 1] } }, { data: undefined }, { event: 'checkers' }, { event: undefined }]) {
      const r = await postJson(messages('retry'), { ...body, ...changed });
      assert.equal(r.status, 409, JSON.stringify(changed));
      assert.equal(codeOf(r), 'CLIENT_ID_CONFLICT');
    }
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=dana`);
    await ws.opened;
    ws.send({ type: 'publish', id: 'again', room: 'retry', text: 'move', data: { a: 1, b: [1, 2] }, event: 'chess', clientId: 'r-1' });
    assert.equal((await ws.next('ack', (f) => f.id === 'again')).duplicate, true);
    ws.send({ type: 'publish', id: 'other', room: 'retry', text: 'move', data: { a: 1 }, event: 'chess', clientId: 'r-1' });
    assert.equal((await ws.next('error', (f) => f.id === 'other')).code, 'CLIENT_ID_CONFLICT');
    ws.close();
    const stored = ((await request(messages('retry'))).json() as HistoryPage).entries;
    assert.equal(stored.length, 1);
  });

  it('SDK: publish({ data, event }) reaches a `message` handler on every transport, typed', async () => {
    await request(`${s.url}/api/rooms/sdk`, { method: 'PUT' });
    const receivers: Client[] = [];
    const got = new Map<string, MessageEntry[]>();
    for (const transport of TRANSPORTS) {
      const c = await connect({ url: s.url, room: 'sdk', name: `r-${transport}`, transport, pollIntervalMs: 100 });
      const list: MessageEntry[] = [];
      c.on('message', (m) => list.push(m));
      got.set(transport, list);
      receivers.push(c);
    }
    const senders: Client[] = [];
    try {
      for (const transport of TRANSPORTS) {
        const sender = await connect({ url: s.url, room: 'sdk', name: `s-${transport}`, transport, pollIntervalMs: 100 });
        senders.push(sender);
        const ack = await sender.publish({ data: { via: transport, list: [1, { x: null }] }, event: 'sdk.test' });
        assert.equal(ack.duplicate, false);
      }
      const text = await senders[0]!.publish('still text');
      assert.ok(text.seq > 0);
      const expected = [...TRANSPORTS.map((t) => ({ text: '', data: { via: t, list: [1, { x: null }] }, event: 'sdk.test' })), { text: 'still text', data: undefined, event: undefined }];
      for (const transport of TRANSPORTS) {
        const list = got.get(transport)!;
        await waitFor(() => list.length >= expected.length, 8000, `messages over ${transport}`);
        assert.deepEqual(list.map((m) => ({ text: m.text, data: m.data, event: m.event })), expected, transport);
      }
      await assert.rejects(senders[0]!.publish({ event: 'no-payload' }), (err: unknown) => (err as { code?: string }).code === 'TEXT_REQUIRED');
      await assert.rejects(senders[0]!.publish({ text: 'hi', event: 'bad name' }), (err: unknown) => (err as { code?: string }).code === 'BAD_REQUEST');
      await assert.rejects(senders[0]!.publish({ data: 'q'.repeat(LIMIT) }), (err: unknown) => (err as { code?: string }).code === 'MESSAGE_TOO_LARGE');
      await assert.rejects(senders[1]!.publish({ data: 'q'.repeat(LIMIT) }), (err: unknown) => (err as { code?: string }).code === 'MESSAGE_TOO_LARGE');
      await assert.rejects(senders[0]!.publish({ data: 10n as unknown as JsonValue }), (err: unknown) => (err as { code?: string }).code === 'BAD_REQUEST');
      // The data is taken as it is when published: changing the object afterwards changes nothing.
      const mutable = { n: 1, gone: undefined as unknown as JsonValue };
      const pending = senders[2]!.publish({ data: mutable, event: 'snapshot' });
      mutable.n = 2;
      const snap = await pending;
      const stored = ((await request(`${s.url}/api/rooms/sdk/messages?limit=10`)).json() as HistoryPage).entries.find((e) => e.seq === snap.seq);
      assert.deepEqual(stored?.type === 'message' ? stored.data : undefined, { n: 1 });
    } finally {
      await Promise.all([...receivers, ...senders].map((c) => c.close()));
    }
  });
});

describe("the lecture's views skip data-only messages", () => {
  let s: Started;
  before(async () => {
    s = await startServer({ longPollTimeoutMs: 2000 });
  });
  after(async () => s.server.close());

  /** A tiny cookie jar: what the answer sets, merged into what was sent. */
  function cookieOf(answer: { headers: { 'set-cookie'?: string[] } }, previous = ''): string {
    const jar = new Map(previous.split('; ').filter(Boolean).map((c) => [c.split('=')[0]!, c] as const));
    for (const line of answer.headers['set-cookie'] ?? []) {
      const pair = line.split(';')[0]!;
      jar.set(pair.split('=')[0]!, pair);
    }
    return [...jar.values()].join('; ');
  }

  it('WebSocket /, /subscribe, /poll and /longpoll show the text messages only, as {text, timestamp}', async () => {
    const frames: string[] = [];
    const lectureWs = new WebSocket(`ws://127.0.0.1:${s.port}`);
    lectureWs.on('message', (d) => frames.push(String(d)));
    await waitFor(() => frames.length >= 1, 3000, 'welcome');
    const sse = new SseProbe(`${s.url}/subscribe`);
    await sse.ready;
    const pollCookie = cookieOf((await request(`${s.url}/poll`)) as never);
    await new Promise((r) => setTimeout(r, 100));
    // Held from before the data-only message: it must not answer with it, nor with nothing.
    const held = request(`${s.url}/longpoll`, { headers: { cookie: pollCookie } });
    await new Promise((r) => setTimeout(r, 100));

    assert.equal((await postJson(`${s.url}/api/rooms/lobby/messages`, { data: { hidden: true }, event: 'custom' })).status, 201);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await postJson(`${s.url}/api/rooms/lobby/messages`, { text: 'visible', data: { extra: 1 }, event: 'custom' })).status, 201);

    const answer = await held;
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(JSON.parse(answer.body) as object), ['text', 'timestamp']);
    assert.equal((JSON.parse(answer.body) as { text: string }).text, 'visible');

    await waitFor(() => frames.length >= 2, 3000, 'a lecture WebSocket frame');
    await waitFor(() => sse.events.length >= 1, 3000, 'a lecture SSE event');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(frames.slice(1).map((f) => JSON.parse(f) as Record<string, unknown>).map((m) => [Object.keys(m), m.text]), [[['text', 'timestamp'], 'visible']]);
    assert.deepEqual(sse.events.map((e) => JSON.parse(e.data) as Record<string, unknown>).map((m) => [Object.keys(m), m.text]), [[['text', 'timestamp'], 'visible']]);

    const polled = await request(`${s.url}/poll`, { headers: { cookie: pollCookie } });
    assert.equal(polled.status, 200);
    assert.equal((JSON.parse(polled.body) as { text: string }).text, 'visible');
    assert.equal((await request(`${s.url}/poll`, { headers: { cookie: cookieOf(polled as never, pollCookie) } })).status, 204);
    // Native clients of lobby see both.
    const history = (await request(`${s.url}/api/rooms/lobby/messages`)).json() as HistoryPage;
    assert.deepEqual(
      history.entries.filter((e): e is MessageEntry => e.type === 'message').map((e) => [e.text, e.data]),
      [['', { hidden: true }], ['visible', { extra: 1 }]],
    );
    lectureWs.close();
    sse.close();
  });
});
