import { mintToken } from '../src/server/auth/mint-token.js';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectionError, SwitchboardError, TRANSPORTS, connect, type Client, type ConnectOptions, type Entry, type HistoryPage, type WireEvent } from '../src/client/index.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { backoffDelay } from '../src/client/backoff.js';
import { Outbox } from '../src/client/outbox.js';
import { ReadMarker } from '../src/client/read-marker.js';
import { PresenceList } from '../src/client/presence-list.js';
import { ResumePosition } from '../src/client/resume-position.js';
import { SilenceWatchdog } from '../src/client/silence-watchdog.js';

/** Fast settings, so every test stays well under its timeout. */
const FAST = { pollIntervalMs: 50, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, openTimeoutMs: 2000 } as const;

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every entry a client delivers, in delivery order. */
function record(client: Client): Entry[] {
  const seen: Entry[] = [];
  client.on('entry', (e) => seen.push(e));
  return seen;
}

function assertNoGapNoDouble(entries: readonly Entry[]): void {
  for (let i = 1; i < entries.length; i++) {
    assert.equal(entries[i]!.seq, entries[i - 1]!.seq + 1, `seq ${entries[i - 1]!.seq} is followed by ${entries[i]!.seq}`);
  }
}

describe('client SDK', () => {
  let server: Switchboard;
  let url: string;
  /** A server that writes join and leave entries (--presence-entries): what polling clients learn presence from. */
  let entriesServer: Switchboard;
  let entriesUrl: string;
  const clients: Client[] = [];
  const open = async (options: Partial<ConnectOptions> & { room: string; name: string }): Promise<Client> => {
    const c = await connect({ url, ...FAST, ...options });
    clients.push(c);
    return c;
  };
  let roomNo = 0;
  const newRoom = async (): Promise<string> => {
    const room = `sdk-${++roomNo}`;
    const res = await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
    assert.ok(res.ok);
    return room;
  };

  before(async () => {
    server = createSwitchboard({
      port: 0,
      host: '127.0.0.1',
      store: 'memory',
      logLevel: 'silent',
      presenceGraceMs: 100,
      rateLimitPerSecond: 10_000,
      rateLimitBurst: 10_000,
      maxMessageBytes: 1000,
    });
    url = `http://127.0.0.1:${await server.listen()}`;
    entriesServer = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', presenceGraceMs: 100, presenceEntries: true });
    entriesUrl = `http://127.0.0.1:${await entriesServer.listen()}`;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
    await entriesServer.close();
  });

  for (const transport of TRANSPORTS) {
    describe(transport, () => {
      it('connects, receives what another client publishes, publishes with an ack', { timeout: 10_000 }, async () => {
        const room = await newRoom();
        const wire: WireEvent[] = [];
        const reader = await open({ room, name: 'reader', transport });
        reader.on('wire', (w) => wire.push(w));
        const seen = record(reader);
        assert.equal(reader.status, 'connected');
        assert.equal(reader.transport, transport);
        const writer = await open({ room, name: 'writer', transport: 'websocket' });
        const theirs = await writer.publish('from the writer');
        const mine = await reader.publish('from the reader');
        assert.equal(mine.duplicate, false);
        assert.equal(mine.room, room);
        assert.ok(mine.seq > theirs.seq);
        assert.match(mine.cursor, /^[A-Za-z0-9_-]+:\d+$/);
        await waitFor(() => seen.some((e) => e.seq === mine.seq), 'own message echoed');
        const messages = seen.filter((e) => e.type === 'message');
        assert.deepEqual(
          messages.map((e) => [e.text, e.from.name]),
          [
            ['from the writer', 'writer'],
            ['from the reader', 'reader'],
          ],
        );
        assert.equal(reader.cursor?.endsWith(`:${seen.at(-1)!.seq}`), true);
        assert.ok(wire.length > 0, 'wire events reported');
        assert.ok(wire.every((w) => w.transport === transport && typeof w.summary === 'string'));
      });

      it('pages through history', { timeout: 10_000 }, async () => {
        const room = await newRoom();
        const client = await open({ room, name: 'pager', transport });
        for (let i = 1; i <= 25; i++) await client.publish(`m${i}`);
        const texts: string[] = [];
        let page: HistoryPage = await client.history({ limit: 10 });
        for (;;) {
          const seqs = page.entries.map((e) => e.seq);
          assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'a page is in ascending order');
          texts.unshift(...page.entries.filter((e) => e.type === 'message').map((e) => e.text!));
          if (!page.more) break;
          page = await client.history({ before: page.entries[0]!.seq, limit: 10 });
        }
        assert.deepEqual(
          texts,
          Array.from({ length: 25 }, (_, i) => `m${i + 1}`),
        );
      });

      it('sees presence: join and leave of another member', { timeout: 10_000 }, async () => {
        // Polling clients hear of arrivals through join and leave entries only (poll answers carry no notices): --presence-entries.
        const polls = transport === 'polling' || transport === 'long-polling';
        const base = polls ? entriesUrl : url;
        const room = `sdk-presence-${transport}`;
        assert.ok((await fetch(`${base}/api/rooms/${room}`, { method: 'PUT' })).ok);
        const watcher = await open({ url: base, room, name: 'watcher', transport });
        const names = (): string[] => watcher.presence().map((m) => m.name);
        await waitFor(() => names().includes('watcher'), 'own presence');
        const presenceEvents: string[][] = [];
        watcher.on('presence', (list) => presenceEvents.push(list.map((m) => m.name)));
        const visitor = await connect({ url: base, ...FAST, room, name: 'visitor', transport: 'websocket' });
        await waitFor(() => names().includes('visitor'), 'visitor joined');
        assert.equal(watcher.presence().find((m) => m.name === 'visitor')?.transports[0], 'websocket');
        await visitor.close();
        await waitFor(() => !names().includes('visitor'), 'visitor left');
        assert.ok(presenceEvents.some((list) => list.includes('visitor')));
        assert.ok(!presenceEvents.at(-1)!.includes('visitor'));
      });
    });
  }

  it('switches transport live in the middle of a stream: nothing lost, nothing doubled', { timeout: 20_000 }, async () => {
    const room = await newRoom();
    const reader = await open({ room, name: 'switcher', transport: 'websocket' });
    const seen = record(reader);
    const writer = await open({ room, name: 'stream', transport: 'websocket' });
    let stop = false;
    let published = 0;
    const stream = (async () => {
      while (!stop) {
        await writer.publish(`n${++published}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const switches = ['sse', 'long-polling', 'polling', 'websocket', 'polling', 'sse', 'websocket'] as const;
    for (const t of switches) {
      await new Promise((r) => setTimeout(r, 150));
      await reader.setTransport(t);
      assert.equal(reader.transport, t);
      assert.equal(reader.status, 'connected');
    }
    // A real stream around the switches however slow the machine (35 messages in all was seen on a loaded one).
    while (published <= 50) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await stream;
    await waitFor(() => seen.filter((e) => e.type === 'message').length >= published, `all ${published} messages`, 5000);
    const messages = seen.filter((e) => e.type === 'message');
    assert.deepEqual(
      messages.map((e) => e.text),
      Array.from({ length: published }, (_, i) => `n${i + 1}`),
    );
    assertNoGapNoDouble(seen);
    assert.ok(published > 50, `a real stream (${published} messages)`);
  });

  it('a publish sent again with the same clientId is stored once, whatever the transport', { timeout: 10_000 }, async () => {
    const room = await newRoom();
    const client = await open({ room, name: 'retrier', transport: 'websocket' });
    const first = await client.publish('only once', { clientId: 'retry-test-1' });
    assert.equal(first.duplicate, false);
    const again = await client.publish('only once', { clientId: 'retry-test-1' });
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, first.seq);
    await client.setTransport('sse');
    const overHttp = await client.publish('only once', { clientId: 'retry-test-1' });
    assert.equal(overHttp.duplicate, true);
    assert.equal(overHttp.seq, first.seq);
    const page = (await (await fetch(`${url}/api/rooms/${room}/messages?limit=100`)).json()) as HistoryPage;
    assert.equal(page.entries.filter((e) => e.type === 'message' && e.clientId === 'retry-test-1').length, 1);
    // Ids the SDK makes up are unique and valid.
    const a = await client.publish('a');
    const b = await client.publish('b');
    assert.ok(a.clientId && b.clientId && a.clientId !== b.clientId);
  });

  it("a short-polling client's own message comes back on its stream at once, not an interval later", { timeout: 10_000 }, async () => {
    const room = await newRoom();
    const client = await open({ room, name: 'poller', transport: 'polling', pollIntervalMs: 4000 });
    const seen = record(client);
    // Past the opening poll: the loop sleeps its 4 s now.
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    const ack = await client.publish('mine');
    await waitFor(() => seen.some((e) => e.seq === ack.seq), 'its own entry on the stream', 3000);
    assert.ok(Date.now() - sent < 2000, `came back ${Date.now() - sent} ms after the publish`);
  });

  it('an HTTP wire event tells the body sent from the answer: the publish 201 with its ack, the typing notice 204 with no body', { timeout: 10_000 }, async () => {
    const room = await newRoom();
    const wire: WireEvent[] = [];
    const client = await open({ room, name: 'wired', transport: 'polling' });
    client.on('wire', (w) => wire.push(w));
    const ack = await client.publish('sent, not answered', { clientId: 'wire-fields-1' });
    client.typing();
    await waitFor(() => wire.some((w) => w.method === 'POST' && w.path?.endsWith('/typing')), 'the typing POST');
    const post = wire.find((w) => w.method === 'POST' && w.path === `/api/rooms/${room}/messages`)!;
    assert.equal(post.direction, 'out');
    assert.equal(post.status, 201);
    assert.equal(post.bytes, Buffer.byteLength(post.requestSummary!), 'bytes: the body sent, as before');
    assert.match(post.requestSummary!, /^\{"text":"sent, not answered","clientId":"wire-fields-1"/);
    const answer = JSON.parse(post.responseSummary!) as { seq?: number; text?: string };
    assert.equal(answer.seq, ack.seq, 'the answer is the ack');
    assert.equal(answer.text, undefined, 'not the body sent');
    assert.equal(post.responseBytes, Buffer.byteLength(post.responseSummary!));
    assert.equal(post.summary, `→ ${post.requestSummary} ← 201 ${post.responseSummary}`);
    assert.match(post.detail!, /^POST \/api\/rooms\/\S+\/messages\n\n→ \{"text":"sent, not answered".*\n\n← 201\n\n\{.*"seq":/s);
    const typing = wire.find((w) => w.method === 'POST' && w.path?.endsWith('/typing'))!;
    assert.equal(typing.status, 204);
    assert.equal(typing.responseSummary, '', 'a 204 has no body');
    assert.equal(typing.responseBytes, 0);
    assert.match(typing.summary, /^→ \{.*\} ← 204 no body$/);
    assert.match(typing.detail!, /← 204 \(no body\)$/);
    // A request without a body (a poll): no requestSummary; the summary is the answer, as before.
    await waitFor(() => wire.some((w) => w.method === 'GET' && /\/poll\?/.test(w.path ?? '')), 'a poll');
    const poll = wire.find((w) => w.method === 'GET' && /\/poll\?/.test(w.path ?? ''))!;
    assert.equal(poll.requestSummary, undefined);
    assert.equal(poll.status, 200);
    assert.equal(poll.summary, `200 ${poll.responseSummary}`);
    assert.equal(poll.bytes, poll.responseBytes);
  });

  it('queues publishes made while reconnecting and sends them in order', { timeout: 10_000 }, async () => {
    const room = await newRoom();
    const client = await open({ room, name: 'queuer', transport: 'websocket' });
    const seen = record(client);
    // Drop the transport under the client: it reconnects by itself.
    const switching = client.setTransport('polling');
    const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => client.publish(`q${i}`)));
    await switching;
    assert.deepEqual(
      acks.map((a) => a.seq),
      [...acks.map((a) => a.seq)].sort((x, y) => x - y),
    );
    await waitFor(() => seen.filter((e) => e.type === 'message').length === 10, 'queued messages');
    assert.deepEqual(
      seen.filter((e) => e.type === 'message').map((e) => e.text),
      Array.from({ length: 10 }, (_, i) => `q${i}`),
    );
  });

  it('presence follows a member who adds a connection on another transport (no join, a notice)', { timeout: 10_000 }, async () => {
    const room = await newRoom();
    for (const transport of ['websocket', 'sse'] as const) {
      const watcher = await open({ room, name: `watcher-${transport}`, member: `w-${transport}`, transport });
      const first = await open({ room, name: 'bea', member: 'bea', transport: 'sse' });
      await waitFor(() => watcher.presence().some((m) => m.member === 'bea'), 'bea to be present');
      const second = await open({ room, name: 'bea', member: 'bea', transport: 'websocket' });
      await waitFor(
        () => [...(watcher.presence().find((m) => m.member === 'bea')?.transports ?? [])].sort().join() === 'sse,websocket',
        `bea on two transports, seen over ${transport}`,
      );
      await second.close();
      await first.close();
      await watcher.close();
    }
  });

  it('fails with typed errors carrying the server codes', { timeout: 10_000 }, async () => {
    for (const transport of [...TRANSPORTS, 'auto'] as const) {
      await assert.rejects(
        connect({ url, ...FAST, room: 'no-such-room', name: 'x', transport }),
        (err: unknown) => err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND' && err.status === 404,
        `ROOM_NOT_FOUND over ${transport}`,
      );
    }
    await assert.rejects(connect({ url, room: 'bad room', name: 'x' }), (err: unknown) => err instanceof SwitchboardError && err.code === 'INVALID_ROOM_NAME');
    for (const room of ['.', '..', '...']) await assert.rejects(connect({ url, room, name: 'x', create: true }), (err: unknown) => err instanceof SwitchboardError && err.code === 'INVALID_ROOM_NAME', room);
    await assert.rejects(connect({ url: 'ftp://nope', room: 'lobby', name: 'x' }), (err: unknown) => err instanceof ConnectionError && err.code === 'INVALID_URL');
    await assert.rejects(connect({ url: 'http://127.0.0.1:9', room: 'lobby', name: 'x', transport: 'sse' }), (err: unknown) => err instanceof ConnectionError && err.code === 'UNREACHABLE');
    const created = await open({ room: 'made-by-connect', name: 'maker', create: true, transport: 'sse' });
    assert.equal(created.status, 'connected');
    await assert.rejects(created.publish('x'.repeat(2000)), (err: unknown) => err instanceof SwitchboardError && err.code === 'MESSAGE_TOO_LARGE');
    await created.setTransport('websocket');
    await assert.rejects(created.publish('x'.repeat(2000)), (err: unknown) => err instanceof SwitchboardError && err.code === 'MESSAGE_TOO_LARGE');
    await assert.rejects(created.setTransport('carrier-pigeon' as never), (err: unknown) => err instanceof SwitchboardError && err.code === 'BAD_REQUEST');
    // Plain JavaScript, with Socket.IO's habit: there is no `send` (it is `publish`), not an internal method failing inside.
    assert.throws(() => (created as unknown as { send: (text: string) => unknown }).send('hi'), { name: 'TypeError', message: /send is not a function/ });
    // Through a Proxy, as a framework's reactive state holds it (Vue's reactive(), MobX): its methods
    // run with the proxy as `this`, which ES private fields (#) would refuse with a TypeError.
    const proxied = new Proxy(created, {});
    assert.equal(proxied.status, 'connected');
    assert.equal((await proxied.publish('through a proxy')).duplicate, false);
    assert.ok(Array.isArray(proxied.presence()));
    await created.close();
    assert.equal(created.status, 'closed');
    await assert.rejects(created.publish('too late'), (err: unknown) => err instanceof ConnectionError && err.code === 'CLOSED');
  });

  it('refuses a bad token with UNAUTHORIZED on every transport', { timeout: 10_000 }, async () => {
    const secret = 'sdk-test-secret-0123456789abcdef';
    const locked = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', jwtSecret: secret });
    const token = await mintToken(secret, { sub: 'x', rooms: { lobby: ['read', 'write'] }, ttlSec: 600 });
    const lockedUrl = `http://127.0.0.1:${await locked.listen()}`;
    try {
      for (const transport of [...TRANSPORTS, 'auto'] as const) {
        await assert.rejects(
          connect({ url: lockedUrl, ...FAST, room: 'lobby', name: 'x', transport, token: 'wrong' }),
          (err: unknown) => err instanceof SwitchboardError && err.code === 'UNAUTHORIZED',
          `UNAUTHORIZED over ${transport}`,
        );
        const ok = await connect({ url: lockedUrl, ...FAST, room: 'lobby', name: 'x', transport, token });
        assert.equal((await ok.publish(`with a token over ${transport}`)).duplicate, false);
        await ok.close();
      }
    } finally {
      await locked.close();
    }
  });
});

describe('client building blocks', () => {
  it('backoff: full jitter under an exponential ceiling, capped', () => {
    const options = { initialDelayMs: 500, maxDelayMs: 15_000 };
    assert.equal(backoffDelay(0, options, () => 0), 0);
    assert.equal(backoffDelay(0, options, () => 0.999999), 499);
    assert.equal(backoffDelay(3, options, () => 0.5), 2000);
    assert.equal(backoffDelay(10, options, () => 0.999999), 14_999);
    assert.equal(backoffDelay(10_000, options, () => 0.5), 7500);
    for (let attempt = 0; attempt < 12; attempt++) {
      const d = backoffDelay(attempt, options);
      assert.ok(d >= 0 && d < Math.min(15_000, 500 * 2 ** attempt));
    }
  });

  it('resume position: each seq once, resets retire the old epoch', () => {
    const p = new ResumePosition();
    assert.equal(p.cursor, undefined);
    p.start('e1', 10, undefined);
    assert.equal(p.cursor, 'e1:10');
    assert.equal(p.accept('e1', 10), 'seen');
    assert.equal(p.accept('e1', 11), 'new');
    assert.equal(p.accept('e1', 11), 'seen');
    assert.equal(p.accept('e1', 12), 'new');
    p.start('e1', 11, undefined); // a second transport resuming from an older cursor: position kept
    assert.equal(p.cursor, 'e1:12');
    p.start('e2', 0, 'epoch');
    assert.equal(p.cursor, 'e2:0');
    assert.equal(p.accept('e1', 13), 'seen', 'a stale transport of the old epoch');
    assert.equal(p.accept('e2', 1), 'new');
    assert.equal(p.accept('e3', 5), 'new-epoch');
    assert.equal(new ResumePosition('42').cursor, '42');
    assert.throws(() => new ResumePosition('not a cursor'), (err: unknown) => err instanceof SwitchboardError && err.code === 'INVALID_CURSOR' && err.message.endsWith(': after "not a cursor"'));
  });

  it('presence list: snapshot plus join and leave entries', () => {
    const list = new PresenceList();
    list.replace([{ member: 'a', name: 'ann', transports: ['sse'] }]);
    const entry = (type: 'message' | 'join' | 'leave', member: string, name: string): Entry => {
      const base = { room: 'r', seq: 1, ts: 0, from: { id: `c-${member}`, name, member, transport: 'polling' as const } };
      return type === 'message' ? { type, ...base, text: 'hi' } : { type, ...base };
    };
    assert.equal(list.apply(entry('join', 'b', 'bob')), true);
    assert.equal(list.apply(entry('join', 'b', 'bob')), false);
    assert.deepEqual(
      list.list().map((m) => [m.member, m.transports]),
      [
        ['a', ['sse']],
        ['b', ['polling']],
      ],
    );
    assert.equal(list.apply(entry('leave', 'a', 'ann')), true);
    assert.equal(list.apply(entry('message', 'b', 'bob')), false);
    assert.deepEqual(
      list.list().map((m) => m.name),
      ['bob'],
    );
  });

  it('silence watchdog: silence past the limit, and late timers (throttling, sleep)', () => {
    let now = 1_000_000;
    const events: string[] = [];
    const w = new SilenceWatchdog({ silenceMs: 4000, now: () => now, onSilent: (ms) => events.push(`silent ${ms}`), onThrottled: (gap) => events.push(`throttled ${gap}`) });
    w.start();
    w.stop(); // ticks are driven by hand below, on the fake clock
    (w as unknown as { timer: unknown }).timer = 1;
    const advance = (ms: number): void => {
      for (let left = ms; left > 0; left -= w.tickMs) {
        now += Math.min(w.tickMs, left);
        w.tick();
      }
    };
    advance(3000);
    w.activity();
    advance(4000);
    assert.deepEqual(events, [], 'exactly the limit is not yet silence');
    advance(w.tickMs);
    assert.deepEqual(events, [`silent ${4000 + w.tickMs}`]);
    events.length = 0;
    w.activity();
    now += 60_000; // the tab was in the background for a minute: one late tick
    w.tick();
    assert.deepEqual(events, ['throttled 60000', 'silent 60000']);
  });

  it('outbox: in order, one at a time, retries reuse the clientId, final errors reject', async () => {
    let up = true;
    const sent: string[] = [];
    let failNext: Error | undefined;
    const outbox = new Outbox({
      canSend: () => up,
      rateLimitDelayMs: 10,
      send: async (item) => {
        sent.push(`${item.command.type === 'publish' ? item.command.message.text : item.command.type}/${item.clientId}`);
        if (failNext) {
          const err = failNext;
          failNext = undefined;
          if (err instanceof ConnectionError) up = false; // the client tears the transport down
          throw err;
        }
        return { room: 'r', seq: sent.length, ts: 0, epoch: 'e', duplicate: false, cursor: `e:${sent.length}`, clientId: item.clientId };
      },
    });
    const a = outbox.add({ type: 'publish', message: { text: 'a' } }, 'id-a');
    failNext = new ConnectionError('CONNECTION_LOST', 'cut');
    const b = outbox.add({ type: 'publish', message: { text: 'b' } }, 'id-b');
    const c = outbox.add({ type: 'publish', message: { text: 'c' } }, 'id-c');
    await a;
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(outbox.size, 2, 'b and c wait while offline');
    up = true;
    outbox.flush();
    assert.equal((await b).clientId, 'id-b');
    assert.equal((await c).clientId, 'id-c');
    assert.deepEqual(sent, ['a/id-a', 'b/id-b', 'b/id-b', 'c/id-c']);
    failNext = new SwitchboardError('RATE_LIMITED');
    assert.equal((await outbox.add({ type: 'publish', message: { text: 'd' } }, 'id-d')).clientId, 'id-d');
    failNext = new SwitchboardError('MESSAGE_TOO_LARGE');
    await assert.rejects(outbox.add({ type: 'publish', message: { text: 'e' } }, 'id-e'), (err: unknown) => err instanceof SwitchboardError && err.code === 'MESSAGE_TOO_LARGE');
    up = false;
    const f = outbox.add({ type: 'publish', message: { text: 'f' } }, 'id-f');
    outbox.rejectAll(new ConnectionError('CLOSED', 'closed'));
    await assert.rejects(f, (err: unknown) => err instanceof ConnectionError && err.code === 'CLOSED');
  });
  it('read marker: one request at a time with the highest position, stored positions answered at once, waits while offline', async () => {
    let up = true;
    const sent: number[] = [];
    let release: (() => void) | undefined;
    let failNext: Error | undefined;
    const marker = new ReadMarker({
      canSend: () => up,
      minIntervalMs: 0,
      send: async (seq) => {
        sent.push(seq);
        if (failNext) {
          const err = failNext;
          failNext = undefined;
          if (err instanceof ConnectionError) up = false;
          throw err;
        }
        await new Promise<void>((r) => (release = r));
        return seq;
      },
    });
    const first = marker.mark(3);
    const second = marker.mark(5);
    const third = marker.mark(4);
    assert.deepEqual(sent, [3], 'one request on its way');
    release!();
    assert.equal(await first, 3);
    await waitFor(() => sent.length === 2, 'the next request');
    assert.deepEqual(sent, [3, 5], 'the highest position waiting, once');
    release!();
    assert.deepEqual(await Promise.all([second, third]), [5, 5]);
    assert.equal(await marker.mark(2), 5, 'at or below the stored position: at once');
    assert.equal(sent.length, 2);
    // Another tab moved it (a receipt of this member): waiting calls at or below are answered.
    up = false;
    const waiting = marker.mark(7);
    marker.saw(8);
    assert.equal(await waiting, 8);
    // Offline: it waits; a retryable failure is sent again once a transport is up.
    const later = marker.mark(9);
    failNext = new ConnectionError('CONNECTION_LOST', 'cut');
    up = true;
    marker.flush();
    await waitFor(() => !up, 'the failure');
    up = true;
    marker.flush();
    await waitFor(() => sent.length === 4, 'the retry');
    release!();
    assert.equal(await later, 9);
    assert.deepEqual(sent.slice(2), [9, 9]);
    // A refusal rejects the calls it answered.
    failNext = new SwitchboardError('FORBIDDEN');
    await assert.rejects(marker.mark(10), (err: unknown) => err instanceof SwitchboardError && err.code === 'FORBIDDEN');
  });
  it('read marker: at most one request per interval, the first at once, the highest position waiting after it', async () => {
    const sent: { seq: number; at: number }[] = [];
    const marker = new ReadMarker({
      canSend: () => true,
      minIntervalMs: 300,
      send: async (seq) => {
        sent.push({ seq, at: Date.now() });
        return seq;
      },
    });
    const start = Date.now();
    assert.equal(await marker.mark(1), 1, 'the first at once');
    assert.ok(Date.now() - start < 200, `the first took ${Date.now() - start} ms`);
    const marks = [marker.mark(2), marker.mark(4), marker.mark(3)];
    assert.equal(sent.length, 1, 'the next waits for its turn');
    assert.deepEqual(await Promise.all(marks), [4, 4, 4]);
    assert.deepEqual(sent.map((s) => s.seq), [1, 4], 'one request for the three, with the highest');
    assert.ok(sent[1]!.at - sent[0]!.at >= 290, `${sent[1]!.at - sent[0]!.at} ms between the two`);
    // Another tab stores as much while one waits for its turn: answered without a request.
    const waiting = marker.mark(6);
    marker.saw(7);
    assert.equal(await waiting, 7);
    assert.equal(sent.length, 2);
  });
});
