import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Entry, MessageEntry, PollResult } from '../src/protocol/types.js';
import { SseProbe, WsProbe, postJson, request, startServer, waitFor } from './helpers.js';
import { ROOT } from './fixtures/built.js';

type Started = Awaited<ReturnType<typeof startServer>>;

describe('each transport end to end', () => {
  let s: Started;
  before(async () => {
    s = await startServer();
    await request(`${s.url}/api/rooms/t1`, { method: 'PUT' });
    // The long polls' own room: the presence notices of t1's WebSocket and SSE clients (their
    // arrival, their departure after the grace) would answer a held poll there, empty.
    await request(`${s.url}/api/rooms/lp`, { method: 'PUT' });
  });
  after(async () => s.server.close());

  it('WebSocket: welcome, subscribe, publish with ack, entries in order', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ann`);
    await ws.opened;
    const welcome = await ws.next('welcome');
    assert.equal(welcome.name, 'ann');
    ws.send({ type: 'subscribe', id: 's1', room: 't1' });
    await ws.next('subscribed', (f) => f.id === 's1');
    ws.send({ type: 'publish', id: 'p1', room: 't1', text: 'hello', clientId: 'c-1' });
    const ack = await ws.next('ack', (f) => f.id === 'p1');
    const msg = await ws.next('message', (f) => f.text === 'hello');
    assert.equal(msg.seq, ack.seq);
    assert.equal((msg.from as { name: string }).name, 'ann');
    ws.send({ type: 'ping', id: 'x' });
    assert.equal((await ws.next('pong')).id, 'x');
    ws.close();
  });

  it('a cursor past the room\'s end gets reset: "epoch" and a replay from the start, as docs/protocol.md says', async () => {
    await request(`${s.url}/api/rooms/ahead`, { method: 'PUT' });
    for (const text of ['a1', 'a2']) await postJson(`${s.url}/api/rooms/ahead/messages`, { text });
    const { epoch } = (await request(`${s.url}/api/rooms/ahead`)).json() as { epoch: string };
    for (const after of ['99999', `${epoch}:99999`]) {
      const poll = (await request(`${s.url}/api/rooms/ahead/poll?after=${after}`)).json() as PollResult;
      assert.equal(poll.reset, 'epoch', after);
      assert.deepEqual(poll.entries.filter((e) => e.type === 'message').map((e) => (e as MessageEntry).text), ['a1', 'a2'], after);
    }
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    await ws.opened;
    ws.send({ type: 'subscribe', id: 'ahead', room: 'ahead', after: `${epoch}:99999` });
    assert.equal((await ws.next('subscribed', (f) => f.id === 'ahead')).reset, 'epoch');
    await ws.next('message', (f) => f.text === 'a2');
    ws.close();
  });

  it('the CORS preflight allows the methods docs/protocol.md lists, PATCH among them', async () => {
    const r = await request(`${s.url}/api/rooms/t1/messages/1`, { method: 'OPTIONS', headers: { origin: 'http://page.example', 'access-control-request-method': 'PATCH' } });
    assert.equal(r.status, 204);
    const doc = readFileSync(path.join(ROOT, 'docs/protocol.md'), 'utf8').replace(/\s+/g, ' ');
    assert.ok(doc.includes(`methods \`${String(r.headers['access-control-allow-methods'])}\``), `docs/protocol.md lists ${String(r.headers['access-control-allow-methods'])}`);
    assert.match(String(r.headers['access-control-allow-methods']), /\bPATCH\b/);
  });

  it('SSE: ready event, entries with id = cursor, event = type', async () => {
    const sse = new SseProbe(`${s.url}/api/rooms/t1/events?name=bob`);
    await sse.ready;
    await waitFor(() => sse.events.some((e) => e.event === 'ready'));
    assert.match(sse.raw, /^retry: \d+/);
    const ack = (await postJson(`${s.url}/api/rooms/t1/messages`, { text: 'over sse', name: 'x' })).json() as { seq: number; cursor: string };
    await waitFor(() => sse.events.some((e) => e.event === 'message'));
    const ev = sse.events.find((e) => e.event === 'message')!;
    assert.equal(ev.id, ack.cursor);
    assert.equal((JSON.parse(ev.data) as MessageEntry).text, 'over sse');
    sse.close();
  });

  it('long polling: held until a message, then answered with it; empty answer at the timeout', async () => {
    const first = (await (await request(`${s.url}/api/rooms/lp/poll`)).json()) as PollResult;
    const started = Date.now();
    const held = request(`${s.url}/api/rooms/lp/longpoll?after=${first.cursor}`);
    await new Promise((r) => setTimeout(r, 150));
    await postJson(`${s.url}/api/rooms/lp/messages`, { text: 'wake up' });
    const answer = (await held).json() as PollResult;
    assert.ok(Date.now() - started >= 140, 'the poll was held');
    assert.deepEqual(answer.entries.map((e) => (e.type === 'message' ? e.text : undefined)), ['wake up']);
    const empty = (await request(`${s.url}/api/rooms/lp/longpoll?after=${answer.cursor}&timeout=200`)).json() as PollResult;
    assert.deepEqual(empty.entries, []);
    assert.equal(empty.cursor, answer.cursor);
  });

  it('long polling without a cursor: held at the end, then answered with the first message that comes', async () => {
    await request(`${s.url}/api/rooms/lp/poll`); // the room's channel is live on this node
    const held = request(`${s.url}/api/rooms/lp/longpoll`);
    await new Promise((r) => setTimeout(r, 150));
    await postJson(`${s.url}/api/rooms/lp/messages`, { text: 'first to come' });
    const answer = (await held).json() as PollResult;
    assert.deepEqual(answer.entries.map((e) => (e.type === 'message' ? e.text : undefined)), ['first to come']);
  });

  it('long polling: a notice sent between two polls is not lost: a poll that gives an older presenceAt is answered at once, one that gives the latest is held', async () => {
    await request(`${s.url}/api/rooms/lp-missed`, { method: 'PUT' });
    const before = (await request(`${s.url}/api/rooms/lp-missed/poll`)).json() as PollResult;
    // Someone arrives while no poll is held (a poller between its answer and its next poll).
    await request(`${s.url}/api/rooms/lp-missed/presence?name=m&member=m`, { method: 'POST' });
    let now: PollResult | undefined;
    for (let i = 0; i < 50 && !(now?.presenceAt !== undefined && now.presenceAt > (before.presenceAt ?? 0)); i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = (await request(`${s.url}/api/rooms/lp-missed/poll`)).json() as PollResult;
    }
    const latest = now!.presenceAt!;
    assert.ok(latest > (before.presenceAt ?? 0), 'the arrival was told (presenceAt grew)');
    const started = Date.now();
    const told = (await request(`${s.url}/api/rooms/lp-missed/longpoll?after=${before.cursor}&timeout=5000&presenceAt=${before.presenceAt ?? 0}`)).json() as PollResult;
    assert.ok(Date.now() - started < 2500, `answered at once, not held for its 5 s: ${Date.now() - started} ms`);
    assert.deepEqual(told.entries, []);
    assert.equal(told.presenceAt, latest);
    // Knowing the latest: held for its timeout, as without the parameter.
    const heldFrom = Date.now();
    const held = (await request(`${s.url}/api/rooms/lp-missed/longpoll?after=${told.cursor}&timeout=600&presenceAt=${latest}`)).json() as PollResult;
    assert.ok(Date.now() - heldFrom >= 550, `held: ${Date.now() - heldFrom} ms`);
    assert.equal(held.presenceAt, latest);
    // A bad one is refused before anything is held.
    assert.equal((await request(`${s.url}/api/rooms/lp-missed/longpoll?after=${told.cursor}&presenceAt=soon`)).status, 400);
    assert.equal((await request(`${s.url}/api/rooms/lp-missed/longpoll?after=${told.cursor}&presenceAt=soon`, { method: 'HEAD' })).status, 400, 'HEAD as GET');
  });

  it('long polling: a typing notice sent between two polls is not lost: a poll that gives an older typingAt is answered at once, naming who types; one that gives the latest is held', async () => {
    await request(`${s.url}/api/rooms/lp-typing-gap`, { method: 'PUT' });
    const before = (await request(`${s.url}/api/rooms/lp-typing-gap/poll`)).json() as PollResult;
    assert.equal(before.typingAt, undefined, 'no typing notice yet');
    // Someone types while no poll is held (a poller between its answer and its next poll).
    await postJson(`${s.url}/api/rooms/lp-typing-gap/typing`, { name: 'Gap typist', member: 'gap-typist' });
    let now: PollResult | undefined;
    for (let i = 0; i < 50 && now?.typingAt === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      now = (await request(`${s.url}/api/rooms/lp-typing-gap/poll`)).json() as PollResult;
    }
    const latest = now!.typingAt!;
    assert.ok(latest > 0, 'the notice was counted (typingAt)');
    const started = Date.now();
    const told = (await request(`${s.url}/api/rooms/lp-typing-gap/longpoll?after=${before.cursor}&timeout=5000&typingAt=0`)).json() as PollResult;
    assert.ok(Date.now() - started < 2500, `answered at once, not held for its 5 s: ${Date.now() - started} ms`);
    assert.deepEqual(told.entries, []);
    assert.ok(told.typing.some((t) => t.name === 'Gap typist'), JSON.stringify(told.typing));
    assert.equal(told.typingAt, latest);
    // Knowing the latest: held for its timeout.
    const heldFrom = Date.now();
    await request(`${s.url}/api/rooms/lp-typing-gap/longpoll?after=${told.cursor}&timeout=600&typingAt=${latest}`);
    assert.ok(Date.now() - heldFrom >= 550, `held: ${Date.now() - heldFrom} ms`);
    // A bad one is refused before anything is held.
    assert.equal((await request(`${s.url}/api/rooms/lp-typing-gap/longpoll?after=${told.cursor}&typingAt=soon`)).status, 400);
    assert.equal((await request(`${s.url}/api/rooms/lp-typing-gap/longpoll?after=${told.cursor}&typingAt=soon`, { method: 'HEAD' })).status, 400, 'HEAD as GET');
  });

  it('long polling: a presence notice answers a held poll with a later presenceAt; members coming and going in a loop answer it at most about once a second', async () => {
    await request(`${s.url}/api/rooms/lp-presence`, { method: 'PUT' });
    let last = (await request(`${s.url}/api/rooms/lp-presence/poll`)).json() as PollResult;
    // Someone joins and leaves every 50 ms for 2.5 s (polling clients' joins: no connection held).
    let churning = true;
    const churn = (async () => {
      for (let i = 0; churning; i++) {
        const joined = (await (await request(`${s.url}/api/rooms/lp-presence/presence?name=c${i}&member=c${i}`, { method: 'POST' })).json()) as { session: string };
        await request(`${s.url}/api/rooms/lp-presence/presence?session=${joined.session}`, { method: 'DELETE' });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const started = Date.now();
    let answers = 0;
    const stamps: number[] = [];
    while (Date.now() - started < 2500) {
      last = (await request(`${s.url}/api/rooms/lp-presence/longpoll?after=${last.cursor}&timeout=3000`)).json() as PollResult;
      answers++;
      if (last.presenceAt !== undefined) stamps.push(last.presenceAt);
    }
    churning = false;
    await churn;
    assert.ok(stamps.length > 0 && stamps.every((t, i) => i === 0 || t >= stamps[i - 1]!), `answers say when the latest notice went: ${JSON.stringify(stamps)}`);
    assert.ok(new Set(stamps).size >= 2, `a later notice, a later presenceAt: ${JSON.stringify(stamps)}`);
    // Notices are coalesced per room (one per PRESENCE_NOTICE_GAP_MS): some 50 arrivals and 50 departures wake it 2-4 times, not 100.
    assert.ok(answers <= 5, `held polls answered ${answers} times in 2.5 s`);
  });

  it('long polling: a typing notice answers a held poll, naming who types', async () => {
    const start = (await request(`${s.url}/api/rooms/lp/poll`)).json() as PollResult;
    const held = request(`${s.url}/api/rooms/lp/longpoll?after=${start.cursor}`);
    await new Promise((r) => setTimeout(r, 150));
    await postJson(`${s.url}/api/rooms/lp/typing`, { name: 'Typist' });
    const answer = (await held).json() as PollResult;
    assert.deepEqual(answer.entries, []);
    assert.ok(answer.typing.some((t) => t.name === 'Typist'), JSON.stringify(answer.typing));
  });

  it('polling: a message ends its sender\'s typing; another member\'s goes on', async () => {
    await request(`${s.url}/api/rooms/t-typing`, { method: 'PUT' });
    const start = (await request(`${s.url}/api/rooms/t-typing/poll`)).json() as PollResult;
    await postJson(`${s.url}/api/rooms/t-typing/typing`, { name: 'Sender', member: 'typist-sender' });
    await postJson(`${s.url}/api/rooms/t-typing/typing`, { name: 'Other', member: 'typist-other' });
    await postJson(`${s.url}/api/rooms/t-typing/messages`, { text: 'done typing', name: 'Sender', member: 'typist-sender' });
    const held = (await request(`${s.url}/api/rooms/t-typing/longpoll?after=${start.cursor}`)).json() as PollResult;
    assert.deepEqual(held.entries.map((e) => (e.type === 'message' ? e.text : e.type)), ['done typing']);
    // Within the typing notice's 5 s: without the message's end of it, Sender is still named.
    assert.deepEqual(held.typing.map((t) => t.name), ['Other']);
    const polled = (await request(`${s.url}/api/rooms/t-typing/poll?after=${held.cursor}`)).json() as PollResult;
    assert.deepEqual(polled.typing.map((t) => t.name), ['Other']);
  });

  it('short polling: answers at once with what follows the cursor', async () => {
    const start = (await request(`${s.url}/api/rooms/t1/poll`)).json() as PollResult;
    await postJson(`${s.url}/api/rooms/t1/messages`, { text: 'a' });
    await postJson(`${s.url}/api/rooms/t1/messages`, { text: 'b' });
    const got = (await request(`${s.url}/api/rooms/t1/poll?after=${start.cursor}`)).json() as PollResult;
    assert.deepEqual(got.entries.map((e) => (e.type === 'message' ? e.text : undefined)), ['a', 'b']);
    const again = (await request(`${s.url}/api/rooms/t1/poll?after=${got.cursor}`)).json() as PollResult;
    assert.equal(again.entries.length, 0);
  });

  it('history pages backwards', async () => {
    await request(`${s.url}/api/rooms/hist`, { method: 'PUT' });
    for (let i = 1; i <= 12; i++) await postJson(`${s.url}/api/rooms/hist/messages`, { text: `m${i}` });
    const page1 = (await request(`${s.url}/api/rooms/hist/messages?limit=5`)).json() as { entries: Entry[]; more: boolean };
    assert.deepEqual(page1.entries.map((e) => (e.type === 'message' ? e.text : undefined)), ['m8', 'm9', 'm10', 'm11', 'm12']);
    assert.equal(page1.more, true);
    const page2 = (await request(`${s.url}/api/rooms/hist/messages?limit=5&before=${page1.entries[0]!.seq}`)).json() as { entries: Entry[] };
    assert.deepEqual(page2.entries.map((e) => (e.type === 'message' ? e.text : undefined)), ['m3', 'm4', 'm5', 'm6', 'm7']);
  });
});

describe('one room, four transports', () => {
  let s: Started;
  before(async () => {
    s = await startServer({ rateLimitPerSecond: 1000, rateLimitBurst: 1000, presenceGraceMs: 200, presenceEntries: true });
    await request(`${s.url}/api/rooms/mixed`, { method: 'PUT' });
  });
  after(async () => s.server.close());

  it('every client sees the same sequence, each message exactly once', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=ws`);
    await ws.opened;
    ws.send({ type: 'subscribe', id: 'a', room: 'mixed' });
    await ws.next('subscribed');
    const sse = new SseProbe(`${s.url}/api/rooms/mixed/events?name=sse`);
    await sse.ready;
    await waitFor(() => sse.events.some((e) => e.event === 'ready'));
    const startCursor = ((await request(`${s.url}/api/rooms/mixed/poll`)).json() as PollResult).cursor;

    const longPolled: Entry[] = [];
    const shortPolled: Entry[] = [];
    let stop = false;
    const loop = async (path: string, into: Entry[]): Promise<void> => {
      let cursor = startCursor;
      while (!stop) {
        const r = (await request(`${s.url}/api/rooms/mixed/${path}?after=${cursor}&timeout=300`)).json() as PollResult;
        into.push(...r.entries);
        cursor = r.cursor;
        if (path === 'poll') await new Promise((res) => setTimeout(res, 30));
      }
    };
    const loops = [loop('longpoll', longPolled), loop('poll', shortPolled)];

    const N = 40;
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) ws.send({ type: 'publish', room: 'mixed', text: `n${i}`, clientId: `w${i}` });
      else await postJson(`${s.url}/api/rooms/mixed/messages`, { text: `n${i}`, clientId: `h${i}` });
    }
    const texts = (entries: { type?: unknown; text?: unknown }[]): unknown[] => entries.filter((e) => e.type === 'message').map((e) => e.text);
    const sseEntries = (): Entry[] => sse.events.filter((e) => e.event !== 'ready').map((e) => JSON.parse(e.data) as Entry);
    await waitFor(() => texts(ws.frames).length === N && texts(sseEntries()).length === N && texts(longPolled).length === N && texts(shortPolled).length === N, 8000, 'all four to get every message');
    stop = true;
    await Promise.all(loops);
    const seqs = (entries: { type?: unknown; seq?: unknown }[]): unknown[] => entries.filter((e) => e.type === 'message').map((e) => e.seq);
    const reference = seqs(ws.frames);
    assert.equal(new Set(reference).size, N, 'no duplicates');
    assert.deepEqual(reference, [...reference].sort((a, b) => Number(a) - Number(b)), 'in order');
    assert.deepEqual(seqs(sseEntries()), reference);
    assert.deepEqual(seqs(longPolled), reference);
    assert.deepEqual(seqs(shortPolled), reference);
    ws.close();
    sse.close();
  });

  it('a client that drops resumes on another transport with exactly what it missed', async () => {
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=r`);
    await ws.opened;
    ws.send({ type: 'subscribe', room: 'mixed' });
    await ws.next('subscribed');
    await postJson(`${s.url}/api/rooms/mixed/messages`, { text: 'before-drop' });
    const last = await ws.next('message', (f) => f.text === 'before-drop');
    const cursor = `${String((await ws.next('subscribed')).epoch)}:${String(last.seq)}`;
    ws.close();
    await ws.closed;
    for (const t of ['missed-1', 'missed-2', 'missed-3']) await postJson(`${s.url}/api/rooms/mixed/messages`, { text: t });
    // Resume over SSE with Last-Event-ID, then over long polling from the same cursor.
    const sse = new SseProbe(`${s.url}/api/rooms/mixed/events`, { 'last-event-id': cursor });
    await sse.ready;
    await waitFor(() => sse.events.filter((e) => e.event === 'message').length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(sse.events.filter((e) => e.event === 'message').map((e) => (JSON.parse(e.data) as MessageEntry).text), ['missed-1', 'missed-2', 'missed-3']);
    sse.close();
    const lp = (await request(`${s.url}/api/rooms/mixed/longpoll?after=${cursor}`)).json() as PollResult;
    assert.deepEqual(lp.entries.filter((e) => e.type === 'message').map((e) => e.text), ['missed-1', 'missed-2', 'missed-3']);
    // And over WebSocket with `after`.
    const ws2 = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws`);
    await ws2.opened;
    ws2.send({ type: 'subscribe', room: 'mixed', after: cursor });
    await waitFor(() => ws2.of('message').length >= 3);
    assert.deepEqual(ws2.of('message').map((f) => f.text), ['missed-1', 'missed-2', 'missed-3']);
    ws2.close();
  });

  it('a retried publish with the same client id is stored once and acknowledged with its original seq', async () => {
    const first = await postJson(`${s.url}/api/rooms/mixed/messages`, { text: 'once', clientId: 'retry-me', member: 'carol' });
    const second = await postJson(`${s.url}/api/rooms/mixed/messages`, { text: 'once', clientId: 'retry-me', member: 'carol' });
    assert.equal(first.status, 201);
    assert.equal(second.status, 200);
    const a = first.json() as { seq: number; duplicate: boolean };
    const b = second.json() as { seq: number; duplicate: boolean };
    assert.equal(b.seq, a.seq);
    assert.equal(b.duplicate, true);
    // The same sender retrying over another transport.
    const ws = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?member=carol`);
    await ws.opened;
    ws.send({ type: 'publish', id: 'again', room: 'mixed', text: 'once', clientId: 'retry-me' });
    const ack = await ws.next('ack');
    assert.equal(ack.seq, a.seq);
    assert.equal(ack.duplicate, true);
    // The same sender reusing its key for another text is told, not acknowledged.
    ws.send({ type: 'publish', id: 'other', room: 'mixed', text: 'not the same', clientId: 'retry-me' });
    assert.equal((await ws.next('error', (f) => f.id === 'other')).code, 'CLIENT_ID_CONFLICT');
    ws.close();
    // Another sender's key is its own: the same clientId stores its own message (no squatting).
    const mallory = await postJson(`${s.url}/api/rooms/mixed/messages`, { text: 'mine', clientId: 'retry-me', member: 'mallory' });
    assert.equal(mallory.status, 201);
    const history = (await request(`${s.url}/api/rooms/mixed/messages?limit=500`)).json() as { entries: Entry[] };
    assert.deepEqual(history.entries.flatMap((e) => (e.type === 'message' && e.clientId === 'retry-me' ? [[e.from.member, e.text]] : [])), [['carol', 'once'], ['mallory', 'mine']]);
  });

  it('presence: join and leave entries, and who is here on which transport', async () => {
    await request(`${s.url}/api/rooms/pres`, { method: 'PUT' });
    const watcher = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=watcher&member=w1`);
    await watcher.opened;
    watcher.send({ type: 'subscribe', room: 'pres' });
    await watcher.next('subscribed');
    const sse = new SseProbe(`${s.url}/api/rooms/pres/events?name=carol&member=c1`);
    await sse.ready;
    const join = await watcher.next('join', (f) => (f.from as { name: string }).name === 'carol');
    assert.equal((join.from as { transport: string }).transport, 'sse');
    const who = (await request(`${s.url}/api/rooms/pres/presence`)).json() as { members: { name: string; transports: string[] }[] };
    assert.deepEqual(who.members.find((m) => m.name === 'carol')?.transports, ['sse']);
    // Carol opens a second connection over WebSocket: no second join, but a presence notice.
    const carolWs = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=carol&member=c1`);
    await carolWs.opened;
    carolWs.send({ type: 'subscribe', room: 'pres' });
    const notice = await watcher.next('presence', (f) => changedIn(f).some((m) => m.name === 'carol' && m.transports.length === 2));
    // The change, not the list: carol alone (whole), and the room's count.
    assert.deepEqual(changedIn(notice).map((m) => [m.member, [...m.transports].sort()]), [['c1', ['sse', 'websocket']]]);
    assert.deepEqual([notice.left, notice.count, notice.members], [[], 2, undefined]);
    assert.equal(watcher.of('join').filter((f) => (f.from as { name: string }).name === 'carol').length, 1);
    carolWs.close();
    sse.close();
    await watcher.next('leave', (f) => (f.from as { name: string }).name === 'carol', 6000);
    watcher.close();
  });
});

describe('presence kept out of the log (the default; --presence-entries writes it)', () => {
  it('writes no join or leave entries, and tells subscribers through presence notices', async () => {
    const s = await startServer({ presenceGraceMs: 50 });
    try {
      await request(`${s.url}/api/rooms/quiet`, { method: 'PUT' });
      const watcher = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=w&member=w`);
      await watcher.opened;
      watcher.send({ type: 'subscribe', room: 'quiet' });
      await watcher.next('subscribed');
      const sse = new SseProbe(`${s.url}/api/rooms/quiet/events?name=dora&member=d`);
      await sse.ready;
      const arrived = await watcher.next('presence', (f) => changedIn(f).some((m) => m.name === 'dora'));
      // Dora, and the watcher too when its own arrival fell within the same 100 ms.
      assert.deepEqual([changedIn(arrived).map((m) => m.member).filter((m) => m !== 'w'), arrived.left, arrived.count], [['d'], [], 2]);
      sse.close();
      const left = await watcher.next('presence', (f) => (f.left as string[] | undefined)?.includes('d') === true);
      assert.deepEqual([left.changed, left.left, left.count], [[], ['d'], 1]);
      const history = (await request(`${s.url}/api/rooms/quiet/messages`)).json() as { entries: Entry[] };
      assert.deepEqual(history.entries, []);
      assert.equal(watcher.of('join').length + watcher.of('leave').length, 0);
      watcher.close();
    } finally {
      await s.server.close();
    }
  });
});

describe('presence in a big room (more members than PRESENCE_NOTICE_MAX_MEMBERS)', () => {
  it('gives an arrival a part of the room, itself first, said so; and no notices', async () => {
    const s = await startServer({ connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000, maxConnectionsPerAddress: 1000, maxConnectionsPerMember: 1000, presenceGraceMs: 50 });
    const probes: WsProbe[] = [];
    try {
      await request(`${s.url}/api/rooms/big`, { method: 'PUT' });
      for (let i = 0; i < 110; i++) probes.push(new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=m${i}&member=m${i}`));
      await Promise.all(probes.map((p) => p.opened));
      for (const p of probes) p.send({ type: 'subscribe', room: 'big' });
      await Promise.all(probes.map((p) => p.next('subscribed')));
      const zed = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=zed&member=zed`);
      await zed.opened;
      zed.send({ type: 'subscribe', room: 'big' });
      const subscribed = await zed.nextFrame('subscribed');
      const presence = subscribed.presence;
      assert.equal(subscribed.presenceTruncated, true);
      assert.equal(presence.length, 100);
      assert.equal(presence[0]!.member, 'zed', 'the arrival is in its own snapshot');
      assert.equal(new Set(presence.map((m) => m.member)).size, 100, 'each member once');
      // A second arrival within the second shares the room's read, and still finds itself in it.
      const yan = new WsProbe(`ws://127.0.0.1:${s.port}/api/ws?name=yan&member=yan`);
      await yan.opened;
      yan.send({ type: 'subscribe', room: 'big' });
      const second = await yan.nextFrame('subscribed');
      assert.equal(second.presence[0]!.member, 'yan');
      assert.equal(second.presenceTruncated, true);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(zed.of('presence').length, 0, 'no presence notice in a big room');
      // The room shrinks to 100: zed's part of it becomes the whole list, once.
      for (const p of probes.splice(0, 12)) p.close();
      const whole = await zed.next('presence', undefined, 5000);
      const list = whole.members as { member: string }[];
      assert.equal(list.length, 100);
      assert.ok(list.some((m) => m.member === 'zed') && !list.some((m) => m.member === 'm0'));
      // Then changes again.
      yan.close();
      const change = await zed.next('presence', (f) => f.count !== undefined, 5000);
      assert.deepEqual([change.left, change.count], [['yan'], 99]);
      zed.close();
    } finally {
      for (const p of probes) p.close();
      await s.server.close();
    }
  });
});

// A poll behind the head is answered from the store's memory when it holds the entries
// (Hub.readAnswerNow: the memory store, SQLite's tail cache), else by a read: the same pages.
for (const store of ['memory', 'sqlite'] as const) {
  describe(`polls behind the head (${store} store)`, () => {
    it('answer the page a read gives: from the cursor on, at most `limit`, within maxAnswerBytes, `more` when it was cut', async () => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-behind-'));
      const maxAnswerBytes = 2048;
      const s = await startServer({ store, dataDir, maxAnswerBytes });
      try {
        await request(`${s.url}/api/rooms/b`, { method: 'PUT' });
        const sent: MessageEntry[] = [];
        for (let i = 1; i <= 30; i++) {
          // Of several sizes, so that the byte budget cuts pages of different lengths.
          await postJson(`${s.url}/api/rooms/b/messages`, { text: `m${i} ${'x'.repeat((i * 37) % 400)}` });
        }
        const first = (await request(`${s.url}/api/rooms/b/poll?after=0&limit=100`)).json() as PollResult;
        const { epoch } = first;
        // The history, read backwards page by page (it has the same byte budget).
        for (let before = ''; ; ) {
          const page = (await request(`${s.url}/api/rooms/b/messages?limit=100${before}`)).json() as { entries: MessageEntry[]; more: boolean };
          sent.unshift(...page.entries);
          if (!page.more) break;
          before = `&before=${page.entries[0]!.seq}`;
        }
        assert.equal(sent.length, 30);
        /** The page the rules give for `after`/`limit`. */
        const expected = (after: number, limit: number): { seqs: number[]; more: boolean } => {
          const seqs: number[] = [];
          let bytes = 0;
          for (const e of sent.filter((m) => m.seq > after)) {
            const size = Buffer.byteLength(JSON.stringify(e));
            if (seqs.length >= limit || (seqs.length > 0 && bytes + size > maxAnswerBytes)) return { seqs, more: true };
            seqs.push(e.seq);
            bytes += size;
          }
          return { seqs, more: false };
        };
        // The first poll of the room came before it had a channel on this node: a read.
        assert.deepEqual(first.entries.map((e) => e.seq), expected(0, 100).seqs);
        assert.equal(first.more, true);
        for (const route of ['poll', 'longpoll']) {
          for (const after of [1, 5, 17, 28, 29]) {
            for (const limit of [1, 3, 100]) {
              const r = (await request(`${s.url}/api/rooms/b/${route}?after=${epoch}:${after}&limit=${limit}`)).json() as PollResult;
              const want = expected(after, limit);
              const what = `${route} after ${after} limit ${limit}`;
              assert.deepEqual(r.entries.map((e) => e.seq), want.seqs, what);
              assert.deepEqual(r.entries, sent.filter((m) => want.seqs.includes(m.seq)), what);
              assert.equal(r.more, want.more, what);
              assert.equal(r.cursor, `${epoch}:${want.seqs.at(-1)}`, what);
              assert.equal(r.reset, undefined, what);
            }
          }
        }
      } finally {
        await s.server.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}

/** The members of a presence notice that changed (none in a whole-list notice). */
function changedIn(frame: Record<string, unknown>): { member: string; name: string; transports: string[] }[] {
  return (frame.changed as { member: string; name: string; transports: string[] }[] | undefined) ?? [];
}
