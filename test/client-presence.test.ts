import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect, type Client, type PresenceMember } from '../src/client/index.js';
import { PresenceList } from '../src/client/presence-list.js';
import { LocalBroker } from '../src/server/broker/local-broker.js';
import { NATIVE_SSE, NATIVE_WS } from '../src/server/codecs.js';
import { PRESENCE_NOTICE_GAP_MS } from '../src/server/hub.js';
import { Notice } from '../src/server/notice.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { request, waitFor } from './helpers.js';
import type { PollResult } from '../src/protocol/types.js';

const FAST = { pollIntervalMs: 50, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, openTimeoutMs: 2000 } as const;
const ann: PresenceMember = { member: 'a', name: 'ann', transports: ['sse'] };
const bob: PresenceMember = { member: 'b', name: 'bob', transports: ['websocket'] };

describe('presence changes in the client (PresenceList)', () => {
  it('applies a change: members whole, departures, and the count it checks itself against', () => {
    const list = new PresenceList();
    list.replace([ann]);
    assert.equal(list.take({ room: 'r', changed: [bob], left: [], count: 2 }), true);
    assert.equal(list.take({ room: 'r', changed: [bob], left: [], count: 2 }), false, 'the same again changes nothing');
    assert.equal(list.doubtful, false);
    assert.equal(list.take({ room: 'r', changed: [{ ...ann, transports: ['websocket', 'sse'] }], left: ['b'], count: 1 }), true);
    assert.deepEqual(list.list(), [{ member: 'a', name: 'ann', transports: ['websocket', 'sse'] }]);
    assert.equal(list.take({ room: 'r', changed: [], left: ['nobody'], count: 2 }), false);
    assert.equal(list.doubtful, true, 'one member known, two in the room: a notice was missed');
    assert.equal(list.take({ room: 'r', members: [ann, bob] }), true);
    assert.equal(list.doubtful, false, 'the whole list settles it');
  });

  it('a part of a big room is doubtful once a change comes (the room shrank under the cap)', () => {
    const list = new PresenceList();
    list.replace([ann, bob], true);
    assert.equal(list.doubtful, false, 'no change can come while the room is big');
    list.take({ room: 'r', changed: [], left: ['zed'], count: 2 });
    assert.equal(list.doubtful, true, 'the size matches, but it was a part');
  });
});

describe('presence changes end to end', () => {
  const broker = new LocalBroker();
  let server: Switchboard;
  let url: string;
  const clients: Client[] = [];
  before(async () => {
    server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', broker, presenceGraceMs: 50, connectRatePerSecond: 10_000, subscribeRatePerSecond: 10_000, maxConnectionsPerAddress: 1000 });
    url = `http://127.0.0.1:${await server.listen()}`;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });
  /** A WebSocket member subscribed to `room`, then sending `frames`, as one write after the other on open. */
  function member(room: string, name: string, ...frames: object[]): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${url.replace('http', 'ws')}/api/ws?name=${name}&member=${name}`);
      socket.once('open', () => {
        for (const frame of [{ type: 'subscribe', room }, ...frames]) socket.send(JSON.stringify(frame));
        resolve(socket);
      });
      socket.once('error', reject);
    });
  }
  /** A WebSocket member `watcher` of `room`, and what it sees in order from its own arrival on: arrivals, messages, typing. */
  async function watch(room: string): Promise<{ watcher: WebSocket; seen: string[] }> {
    const watcher = await member(room, 'watcher');
    const seen: string[] = [];
    watcher.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; changed?: { member: string }[]; from?: { member?: string }; text?: string };
      if (frame.type === 'presence') seen.push(...(frame.changed ?? []).map((m) => `arrived ${m.member}`));
      if (frame.type === 'message') seen.push(`${frame.from?.member} said ${frame.text}`);
      if (frame.type === 'typing') seen.push(`${frame.from?.member} typing`);
    });
    await waitFor(() => seen.includes('arrived watcher'), 5000, "the watcher's own arrival");
    return { watcher, seen };
  }
  /** `count` WebSocket members `<prefix>0`, `<prefix>1`... subscribed to `room`, one after the other. */
  async function subscribers(room: string, prefix: string, count: number): Promise<WebSocket[]> {
    const sockets: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      const ws = new WebSocket(`${url.replace('http', 'ws')}/api/ws?name=${prefix}${i}&member=${prefix}${i}`);
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'subscribe', room }));
      sockets.push(ws);
    }
    return sockets;
  }

  it("a client on a polling transport, which gets no presence notices, sees arrivals, departures and its own switch: its polls' answers say when the room's latest notice went (presenceAt)", { timeout: 20_000 }, async () => {
    await fetch(`${url}/api/rooms/pollers`, { method: 'PUT' });
    const watchers = await Promise.all((['long-polling', 'polling'] as const).map((transport) => connect({ url, ...FAST, room: 'pollers', name: `w-${transport}`, member: `w-${transport}`, transport })));
    clients.push(...watchers);
    const names = (w: Client): string => w.presence().map((m) => `${m.member}:${m.transports.join('+')}`).sort().join(' ');
    for (const w of watchers) await waitFor(() => names(w) === 'w-long-polling:long-polling w-polling:polling', 5000, `both pollers in the list of ${w.transport}: ${names(w)}`);
    const [sockets] = [await subscribers('pollers', 'ws-', 1)];
    for (const w of watchers) await waitFor(() => names(w).includes('ws-0:websocket'), 5000, `the arrival, seen by ${w.transport}: ${names(w)}`);
    sockets[0]!.close();
    for (const w of watchers) await waitFor(() => !names(w).includes('ws-0'), 5000, `the departure, seen by ${w.transport}: ${names(w)}`);
    // Its own switch: the join's snapshot listed it on both transports (make before break); the list settles.
    const lp = watchers[0]!;
    await lp.setTransport('websocket');
    await lp.setTransport('long-polling');
    await waitFor(() => names(lp) === 'w-long-polling:long-polling w-polling:polling', 5000, `itself on long polling only after switching back: ${names(lp)}`);
    const answer = (await (await fetch(`${url}/api/rooms/pollers/poll`)).json()) as { presenceAt?: number };
    assert.ok(typeof answer.presenceAt === 'number' && answer.presenceAt > Date.now() - 60_000, `a poll answer says when: ${JSON.stringify(answer)}`);
  });

  it('a client on a polling transport sees a member who speaks as it arrives arrive first: the answer that carries its message waits for the list its notice asked to read', { timeout: 20_000 }, async () => {
    await fetch(`${url}/api/rooms/poll-order`, { method: 'PUT' });
    const watchers = await Promise.all((['long-polling', 'polling'] as const).map((transport) => connect({ url, ...FAST, room: 'poll-order', name: `w-${transport}`, member: `w-${transport}`, transport })));
    clients.push(...watchers);
    for (const w of watchers) await waitFor(() => w.presence().length === 2, 5000, `both watchers in the list of ${w.transport}`);
    const seen = watchers.map(() => [] as string[]);
    watchers.forEach((w, i) => {
      w.on('message', (m) => seen[i]!.push(`${m.from.member} said ${m.text}${w.presence().some((p) => p.member === m.from.member) ? '' : ' (not yet arrived)'}`));
    });
    for (const [n, name] of ['first', 'second', 'third'].entries()) {
      // After a quiet gap, then while the room cools: its notice due in 100 ms, then in up to a second.
      if (n === 0) await new Promise((r) => setTimeout(r, PRESENCE_NOTICE_GAP_MS + 200));
      const socket = await member('poll-order', name, { type: 'publish', room: 'poll-order', text: 'hi' });
      for (const [i, w] of watchers.entries()) await waitFor(() => seen[i]!.some((line) => line.startsWith(`${name} said`)), 5000, `${name}'s message on ${w.transport}`);
      socket.close();
    }
    for (const [i, w] of watchers.entries()) assert.deepEqual(seen[i], ['first said hi', 'second said hi', 'third said hi'], `on ${w.transport}`);
  });

  it('a long poll says which presence notice it knows of even before it saw one (presenceAt=0): the room\'s first notice, sent between the opening answer and the hold, is not lost', { timeout: 10_000 }, async () => {
    await fetch(`${url}/api/rooms/first-notice`, { method: 'PUT' });
    const longPolls: string[] = [];
    const watcher = await connect({ url, ...FAST, room: 'first-notice', name: 'w', member: 'w', transport: 'long-polling', onWire: (e) => void (e.path?.includes('/longpoll') && longPolls.push(e.path)) });
    clients.push(watcher);
    // The first is answered by the notice of this client's own arrival, 100 ms after its join.
    await waitFor(() => longPolls.length >= 2, 5000, 'two long polls');
    for (const path of longPolls) assert.match(path, /[?&]presenceAt=\d+(&|$)/, `every long poll gives presenceAt: ${path}`);
  });

  it('a client that missed a change reads the whole list (the count of the next one told it)', { timeout: 15_000 }, async () => {
    await fetch(`${url}/api/rooms/missed`, { method: 'PUT' });
    const watchers = await Promise.all((['websocket', 'sse'] as const).map((transport) => connect({ url, ...FAST, room: 'missed', name: `w-${transport}`, member: `w-${transport}`, transport })));
    clients.push(...watchers);
    for (const w of watchers) await waitFor(() => w.presence().length === 2, 5000, 'both watchers in each list');
    // Another node's notice, as the broker carries it: a ghost arrived, but the room has two members.
    await broker.publish({ kind: 'presence', notice: { room: 'missed', changed: [{ member: 'ghost', name: 'ghost', transports: ['websocket'] }], left: [], count: 2 } });
    for (const w of watchers) await waitFor(() => w.presence().some((m) => m.member === 'ghost'), 2000, 'the ghost, as told');
    // Within PRESENCE_CHECK_MS and a read, each list is the room's again.
    for (const w of watchers) await waitFor(() => w.presence().length === 2 && !w.presence().some((m) => m.member === 'ghost'), 5000, 'the list read again');
  });

  it('a presence mark tells whether a notice of the room reached this node since (a subscriber re-reads its list only then)', async () => {
    const { hub } = server;
    assert.equal(hub.presenceQuiet('no-channel-here', hub.presenceMark('no-channel-here')), false, 'no channel: it may have missed some');
    await fetch(`${url}/api/rooms/marks`, { method: 'PUT' });
    const c = await connect({ url, ...FAST, room: 'marks', name: 'm', member: 'm', transport: 'websocket' });
    clients.push(c);
    await new Promise((r) => setTimeout(r, 300)); // its own arrival's notice has come and gone
    const mark = hub.presenceMark('marks');
    assert.equal(hub.presenceQuiet('marks', mark), true);
    await broker.publish({ kind: 'presence', notice: { room: 'marks', changed: [], left: ['x'], count: 1 } });
    assert.equal(hub.presenceQuiet('marks', mark), false);
    assert.equal(hub.presenceQuiet('marks', hub.presenceMark('marks')), true);
  });

  it('a room that keeps changing gets one notice a gap, naming every arrival; a quiet room gets its next at once', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/storm`, { method: 'PUT' });
    const ws = (member: string): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(`${url.replace('http', 'ws')}/api/ws?name=${member}&member=${member}`);
        socket.once('open', () => {
          socket.send(JSON.stringify({ type: 'subscribe', room: 'storm' }));
          resolve(socket);
        });
        socket.once('error', reject);
      });
    const watcher = await ws('watcher');
    const notices: { at: number; changed: string[] }[] = [];
    watcher.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; changed?: { member: string }[] };
      if (frame.type === 'presence') notices.push({ at: Date.now(), changed: (frame.changed ?? []).map((m) => m.member) });
    });
    await waitFor(() => notices.length === 1, 5000, "the watcher's own arrival");
    // Thirty arrivals, one every 50 ms: before the gap, every one (or two) was a notice to every member.
    const started = Date.now();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 30; i++) {
      sockets.push(await ws(`s${i}`));
      await new Promise((r) => setTimeout(r, 50));
    }
    const stormMs = Date.now() - started;
    const told = (): Set<string> => new Set(notices.flatMap((n) => n.changed));
    await waitFor(() => sockets.every((_, i) => told().has(`s${i}`)), 10_000, 'every arrival named in a notice');
    const storm = notices.length - 1;
    assert.ok(storm >= 1 && storm <= Math.ceil(stormMs / PRESENCE_NOTICE_GAP_MS) + 2, `${storm} notices for ${stormMs} ms of arrivals`);
    // Quiet for more than a gap: the next change goes out after the short batching delay, not a gap.
    await new Promise((r) => setTimeout(r, PRESENCE_NOTICE_GAP_MS + 300));
    const before = notices.length;
    const sent = Date.now();
    sockets.push(await ws('late'));
    await waitFor(() => notices.length > before, 5000, "the late arrival's notice");
    assert.ok(notices.at(-1)!.at - sent < 800, `a quiet room's notice came after ${notices.at(-1)!.at - sent} ms`);
    assert.deepEqual(notices.at(-1)!.changed, ['late']);
    for (const socket of [watcher, ...sockets]) socket.close();
  });

  it('a member who speaks as it arrives is seen arriving first, its messages in order after, also while the room cools after a notice', { timeout: 15_000 }, async () => {
    await fetch(`${url}/api/rooms/speak`, { method: 'PUT' });
    const ws = (name: string, ...frames: object[]): Promise<WebSocket> => member('speak', name, ...frames);
    const { watcher, seen } = await watch('speak');
    // Quiet for a gap, then two speakers: the first arrival's notice starts the room's cooling second.
    await new Promise((r) => setTimeout(r, PRESENCE_NOTICE_GAP_MS + 200));
    const publish = (text: string): object => ({ type: 'publish', room: 'speak', text });
    const first = await ws('first', publish('1'), publish('2'));
    await waitFor(() => seen.includes('first said 2'), 5000, "first's messages");
    const second = await ws('second', publish('3'), publish('4'), publish('5'));
    await waitFor(() => seen.includes('second said 5'), 5000, "second's messages");
    assert.deepEqual(seen.slice(1), ['arrived first', 'first said 1', 'first said 2', 'arrived second', 'second said 3', 'second said 4', 'second said 5']);
    for (const socket of [watcher, first, second]) socket.close();
  });

  it('a member who types as it arrives is seen arriving before it is seen typing', { timeout: 15_000 }, async () => {
    await fetch(`${url}/api/rooms/typer`, { method: 'PUT' });
    const ws = (name: string, ...frames: object[]): Promise<WebSocket> => member('typer', name, ...frames);
    const { watcher, seen } = await watch('typer');
    await new Promise((r) => setTimeout(r, PRESENCE_NOTICE_GAP_MS + 200));
    // The first arrival after a quiet gap (its notice due in 100 ms), then one while the room cools (due in up to a second).
    const first = await ws('first', { type: 'typing', room: 'typer' });
    await waitFor(() => seen.includes('first typing'), 5000, "first's typing notice");
    const second = await ws('second', { type: 'typing', room: 'typer' });
    await waitFor(() => seen.includes('second typing'), 5000, "second's typing notice");
    assert.deepEqual(seen.slice(1), ['arrived first', 'first typing', 'arrived second', 'second typing']);
    for (const socket of [watcher, first, second]) socket.close();
  });

  it('a long poll held from now (no cursor), woken by the notice that goes before a message, still gets that message', { timeout: 15_000 }, async () => {
    await fetch(`${url}/api/rooms/fromnow`, { method: 'PUT' });
    const held = request(`${url}/api/rooms/fromnow/longpoll?timeout=5000`);
    const channels = (server.hub as unknown as { channels: Map<string, { size: number }> }).channels;
    await waitFor(() => channels.get('fromnow')?.size === 1, 5000, 'the poll held');
    const speaker = new WebSocket(`${url.replace('http', 'ws')}/api/ws?name=talker&member=talker`);
    await new Promise((r) => speaker.once('open', r));
    for (const frame of [{ type: 'subscribe', room: 'fromnow' }, { type: 'publish', room: 'fromnow', text: 'hello' }]) speaker.send(JSON.stringify(frame));
    // Answered by the arrival's notice (no entries) or by the message: from there on, the message comes.
    let answer = (await held).json() as PollResult;
    const texts: string[] = [];
    for (let polls = 0; polls < 3 && texts.length === 0; polls++) {
      texts.push(...answer.entries.flatMap((e) => (e.type === 'message' ? [e.text] : [])));
      if (texts.length === 0) answer = (await request(`${url}/api/rooms/fromnow/longpoll?after=${encodeURIComponent(answer.cursor)}&timeout=2000`)).json() as PollResult;
    }
    assert.deepEqual(texts, ['hello']);
    speaker.close();
  });

  it('a notice is encoded once per wire format, a WebSocket one as a frame written as it is to every member', () => {
    const notice = new Notice('presence', JSON.stringify({ type: 'presence', room: 'r', changed: [], left: ['x'], count: 1 }));
    const frame = notice.encoded(NATIVE_WS);
    assert.ok(Buffer.isBuffer(frame), 'a built frame');
    assert.equal(notice.encoded(NATIVE_WS), frame, 'the same bytes for the next member');
    // An unmasked final text frame (0x81), its length, then the JSON.
    assert.equal(frame[0], 0x81);
    assert.equal(frame.subarray(2).toString(), notice.json);
    assert.equal(notice.encoded(NATIVE_SSE), `event: presence\ndata: ${notice.json}\n\n`);
  });

  it('GET .../presence lists at most `limit` members and says when it cut: truncated and the count', { timeout: 15_000 }, async () => {
    await fetch(`${url}/api/rooms/bounded`, { method: 'PUT' });
    const sockets = await subscribers('bounded', 'b', 3);
    try {
      const read = async (query: string): Promise<Response> => fetch(`${url}/api/rooms/bounded/presence${query}`);
      for (let tries = 0; ((await (await read('')).json()) as { members: PresenceMember[] }).members.length < 3; tries++) {
        assert.ok(tries < 100, 'three members');
        await new Promise((r) => setTimeout(r, 50));
      }
      const cut = (await (await read('?limit=2')).json()) as { room: string; members: PresenceMember[]; truncated?: boolean; count?: number };
      assert.equal(cut.members.length, 2);
      assert.equal(cut.truncated, true);
      assert.equal(cut.count, 3);
      const whole = (await (await read('?limit=3')).json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(whole).sort(), ['members', 'room'], 'a room within the limit: the fields as before');
      for (const bad of ['0', '1001', 'x']) {
        const res = await read(`?limit=${bad}`);
        assert.equal(res.status, 400, `limit=${bad}`);
        assert.equal(((await res.json()) as { code: string }).code, 'BAD_REQUEST');
      }
    } finally {
      for (const ws of sockets) ws.close();
    }
  });

  it('a big room that shrinks under the cap: the part an arrival got becomes the whole room', { timeout: 30_000 }, async () => {
    await fetch(`${url}/api/rooms/shrinks`, { method: 'PUT' });
    const sockets = await subscribers('shrinks', 'm', 101);
    // A poller's join lists a part of a big room too, and says so.
    for (let tries = 0; ((await (await fetch(`${url}/api/rooms/shrinks/presence?limit=1000`)).json()) as { members: PresenceMember[] }).members.length < 101; tries++) {
      assert.ok(tries < 100, '101 members');
      await new Promise((r) => setTimeout(r, 50));
    }
    const joined = (await (await fetch(`${url}/api/rooms/shrinks/presence?name=poller&member=poller`, { method: 'POST' })).json()) as { members: PresenceMember[]; presenceTruncated?: boolean; session: string };
    assert.equal(joined.members.length, 100, 'a part of 102');
    assert.equal(joined.presenceTruncated, true);
    await fetch(`${url}/api/rooms/shrinks/presence?session=${encodeURIComponent(joined.session)}`, { method: 'DELETE' });
    const sdk = await Promise.all((['websocket', 'sse'] as const).map((transport) => connect({ url, ...FAST, room: 'shrinks', name: `late-${transport}`, member: `late-${transport}`, transport })));
    clients.push(...sdk);
    for (const c of sdk) assert.equal(c.presence().length, 100, 'a part of 103');
    for (const ws of sockets.splice(0, 10)) ws.close();
    for (const c of sdk) await waitFor(() => c.presence().length === 93, 5000, `all 93 in the list of ${c.transport}`);
    const read = (await (await fetch(`${url}/api/rooms/shrinks/presence`)).json()) as { members: PresenceMember[] };
    for (const c of sdk) assert.deepEqual(c.presence().map((m) => m.member).sort(), read.members.map((m) => m.member).sort());
    for (const ws of sockets) ws.close();
  });
});
