/**
 * The benchmark's load generator (bench/load/) is itself checked: against the real built
 * server, its clients of every transport get what was published, once, in order, also when
 * they cut their own connections and resume, and while the server pings its WebSockets; its
 * own readers of SSE streams and WebSocket frames take bytes split anywhere and refuse what a
 * server may not send; and its delivery check catches loss, doubles and disorder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkDeliveries } from '../bench/load/delivery-check.js';
import { LoadCoordinator } from '../bench/load/load-coordinator.js';
import { Publisher, createRooms } from '../bench/load/publisher.js';
import { ServerUnderTest, loadFriendlyArgs } from '../bench/load/server-under-test.js';
import { SseBodyParser, type SseEventRead } from '../bench/load/sse-bench-client.js';
import { WsFrameParser } from '../bench/load/ws-bench-client.js';

/** Feeds `bytes` to a parser cut at `cuts` (each a ByteSink-like `bytes`), keeping what it leaves, as RawConnection does. */
function feed(parse: (data: Buffer) => number, bytes: Buffer, cuts: number[]): void {
  let kept = Buffer.alloc(0);
  let from = 0;
  for (const to of [...cuts, bytes.length]) {
    const data = Buffer.concat([kept, bytes.subarray(from, to)]);
    from = to;
    kept = Buffer.from(data.subarray(parse(data)));
  }
  assert.equal(kept.length, 0, 'bytes left unparsed');
}

/** Every way of cutting `length` bytes in two, and in three around its middle. */
function cutsOf(length: number): number[][] {
  const cuts: number[][] = [[]];
  for (let i = 1; i < length; i++) cuts.push([i]);
  for (let i = 1; i < length / 2; i++) cuts.push([i, length - i]);
  return cuts;
}

/** A server's (unmasked) frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const head = payload.length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length]) : payload.length < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 126, payload.length >> 8, payload.length & 0xff]) : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 127]), Buffer.from(new BigUint64Array([BigInt(payload.length)]).buffer).reverse()]);
  return Buffer.concat([head, payload]);
}

describe('bench load generator: its readers of SSE streams and WebSocket frames', () => {
  it('reads the events of a chunked SSE body cut anywhere', () => {
    const text = 'retry: 1000\n\nid: e:1\nevent: ready\ndata: {"cursor":"e:1"}\n\n: keepalive\n\nid: e:2\nevent: message\ndata: {"text":"h\u00e9 \u2603"}\n\r\nevent: message\r\ndata: a\rdata: b\r\r';
    const body = Buffer.from(text);
    // Two chunks, the first with an extension, then the end of the body.
    const split = 30;
    const stream = Buffer.concat([Buffer.from(`${split.toString(16)};x=y\r\n`), body.subarray(0, split), Buffer.from(`\r\n${(body.length - split).toString(16)}\r\n`), body.subarray(split), Buffer.from('\r\n0\r\n\r\n')]);
    for (const cuts of cutsOf(stream.length)) {
      const events: SseEventRead[] = [];
      const ends: string[] = [];
      const parser = new SseBodyParser(true, (e) => events.push(e), (reason) => ends.push(reason));
      feed((data) => parser.bytes(data), stream, cuts);
      assert.deepEqual(events, [
        { event: 'ready', data: '{"cursor":"e:1"}', id: 'e:1' },
        { event: 'message', data: '{"text":"h\u00e9 \u2603"}', id: 'e:2' },
        { event: 'message', data: 'a\nb', id: undefined },
      ], `cut at ${cuts.join(', ')}`);
      assert.deepEqual(ends, ['stream ended']);
    }
  });

  it('reads the events of an SSE body that is not chunked, cut anywhere (inside a character too)', () => {
    const stream = Buffer.from('id: e:1\nevent: message\ndata: h\u00e9 \u2603\n\n: keepalive\n\ndata: x\n\n');
    for (const cuts of cutsOf(stream.length)) {
      const events: SseEventRead[] = [];
      const parser = new SseBodyParser(false, (e) => events.push(e), (reason) => assert.fail(reason));
      feed((data) => parser.bytes(data), stream, cuts);
      assert.deepEqual(events, [
        { event: 'message', data: 'h\u00e9 \u2603', id: 'e:1' },
        { event: 'message', data: 'x', id: undefined },
      ], `cut at ${cuts.join(', ')}`);
    }
  });

  it('ends an SSE stream whose chunks are malformed', () => {
    for (const [bytes, reason] of [
      ['zz\r\ndata: x\n\n\r\n', 'bad chunk size line'],
      ['5\r\ndata: x\n\n\r\n', 'chunk without its CRLF'],
      ['x'.repeat(40), 'bad chunk size line'],
    ] as const) {
      const ends: string[] = [];
      new SseBodyParser(true, () => assert.fail('no event'), (r) => ends.push(r)).bytes(Buffer.from(bytes));
      assert.deepEqual(ends, [reason], bytes);
    }
    const ends: string[] = [];
    new SseBodyParser(true, () => assert.fail('no event'), (r) => ends.push(r)).bytes(Buffer.concat([Buffer.from('2\r\n'), Buffer.from([0xc3, 0x28]), Buffer.from('\r\n')]));
    assert.deepEqual(ends, ['a chunk that is not UTF-8']);
  });

  it('reads WebSocket frames cut anywhere: short, 16-bit and 64-bit lengths, fragments, pings, a close', () => {
    const long = 'x'.repeat(300);
    const huge = 'y'.repeat(70_000);
    const stream = Buffer.concat([
      serverFrame(1, Buffer.from('{"type":"welcome"}')),
      serverFrame(9, Buffer.from('pi')),
      serverFrame(1, Buffer.from(long)),
      serverFrame(1, Buffer.from('h\u00e9 '), false),
      serverFrame(10, Buffer.alloc(0)),
      serverFrame(0, Buffer.from('\u2603'), false),
      serverFrame(0, Buffer.from('!'), true),
      serverFrame(8, Buffer.from([0x03, 0xe9])),
    ]);
    for (const cuts of cutsOf(stream.length)) {
      const seen: string[] = [];
      const parser = new WsFrameParser({ text: (m) => seen.push(`text ${m}`), ping: (p) => seen.push(`ping ${p}`), close: (c) => seen.push(`close ${c}`), fail: (r) => assert.fail(r) });
      feed((data) => parser.bytes(data), stream, cuts);
      assert.deepEqual(seen, ['text {"type":"welcome"}', 'ping pi', `text ${long}`, 'text h\u00e9 \u2603!', 'close 1001'], `cut at ${cuts.join(', ')}`);
    }
    const seen: string[] = [];
    const parser = new WsFrameParser({ text: (m) => seen.push(m), ping: () => {}, close: () => {}, fail: (r) => assert.fail(r) });
    feed((data) => parser.bytes(data), serverFrame(1, Buffer.from(huge)), [5, 40_000]);
    assert.deepEqual(seen, [huge]);
  });

  it('refuses what a server may not send: masked or binary frames, RSV bits, long control frames, stray continuations, text that is not UTF-8', () => {
    const masked = serverFrame(1, Buffer.from('abcd'));
    masked[1]! |= 0x80;
    const rsv = serverFrame(1, Buffer.from('a'));
    rsv[0]! |= 0x40;
    for (const [bytes, reason] of [
      [masked, 'a masked frame from the server'],
      [rsv, 'RSV bits set'],
      [serverFrame(2, Buffer.from('a')), 'a binary frame'],
      [serverFrame(9, Buffer.alloc(126)), 'a fragmented or long control frame'],
      [serverFrame(9, Buffer.alloc(1), false), 'a fragmented or long control frame'],
      [serverFrame(0, Buffer.from('a')), 'a continuation without a message'],
      [Buffer.concat([serverFrame(1, Buffer.from('a'), false), serverFrame(1, Buffer.from('b'))]), 'a text frame inside a fragmented message'],
      [serverFrame(1, Buffer.from([0xc3, 0x28])), 'text that is not UTF-8'],
      [serverFrame(8, Buffer.from([3])), 'a close frame of one byte'],
    ] as const) {
      const failed: string[] = [];
      new WsFrameParser({ text: () => assert.fail('no text'), ping: () => assert.fail('no ping'), close: () => assert.fail('no close'), fail: (r) => failed.push(r) }).bytes(bytes);
      assert.deepEqual(failed, [reason]);
    }
  });
});

describe('bench delivery check', () => {
  it('counts lost, behind, doubled, out-of-order and unpublished messages', () => {
    const r = checkDeliveries([
      { name: 'ok', seqs: [2, 3, 5], expected: [2, 3, 5] },
      { name: 'lost', seqs: [2, 5], expected: [2, 3, 5] },
      { name: 'behind', seqs: [2], expected: [2, 3, 5] },
      { name: 'doubled', seqs: [2, 3, 3, 5], expected: [2, 3, 5] },
      { name: 'disorder', seqs: [3, 2, 5], expected: [2, 3, 5] },
      { name: 'extra', seqs: [2, 3, 4, 5], expected: [2, 3, 5] },
    ]);
    assert.equal(r.complete, 2);
    assert.equal(r.unacknowledged, 1);
    assert.equal(r.lost, 1);
    assert.equal(r.behind, 2);
    assert.match(r.samples[0]!, /^lost: 1 lost, 0 behind \(missing 3 of 2\.\.5\)/);
    assert.match(r.samples[1]!, /^behind: 0 lost, 2 behind \(missing 3,5 of 2\.\.5\)/);
    assert.equal(r.doubled, 1);
    assert.equal(r.outOfOrder, 1);
    assert.equal(r.samples.length, 5);
    assert.match(r.samples[4]!, /1 not acknowledged \(4\)/);
  });
});

describe('bench load generator against the built server', () => {
  let server: ServerUnderTest;
  before(async () => {
    server = await ServerUnderTest.switchboard([...loadFriendlyArgs(200), '--store', 'memory']);
    await createRooms(server.baseUrl, ['a', 'b']);
  });
  after(() => server.stop());

  it('delivers to clients of every transport in two processes, each from its own address', async () => {
    const { load, summary } = await LoadCoordinator.connect({
      baseUrl: server.baseUrl,
      counts: { websocket: 10, sse: 10, 'long-polling': 10, polling: 10 },
      rooms: ['a', 'b'],
      perProcess: 20,
      pollIntervalMs: 200,
    });
    try {
      assert.equal(summary.failed, 0);
      const publisher = new Publisher(server.baseUrl);
      for (let i = 0; i < 5; i++) await Promise.all([publisher.publish('a'), publisher.publish('b')]);
      publisher.close();
      // Waits until every client has the last message of its room (pollers every 200 ms), no longer.
      const settled = await load.settle(publisher.expected(), 10_000);
      assert.equal(settled.behind, 0);
      const report = await load.check(publisher.expected());
      for (const kind of ['websocket', 'sse', 'long-polling', 'polling'] as const) {
        const k = report.get(kind)!;
        assert.deepEqual({ kind, clients: k.clients, complete: k.complete, lost: k.lost, behind: k.behind, doubled: k.doubled, outOfOrder: k.outOfOrder }, { kind, clients: 10, complete: 10, lost: 0, behind: 0, doubled: 0, outOfOrder: 0 });
        assert.equal(k.latencyMs.length, 50);
      }
    } finally {
      await load.close();
    }
  });

  it('gets the same from the bare protocol server, the floor of bench:connections --server bare (two workers)', async () => {
    const bare = await ServerUnderTest.script('bare-protocol-server.mjs', { WORKERS: '2' });
    try {
      assert.equal(bare.pids().length, 3, 'a primary and two workers');
      await createRooms(bare.baseUrl, ['a', 'b']);
      const { load, summary } = await LoadCoordinator.connect({ baseUrl: bare.baseUrl, counts: { websocket: 10, sse: 10, 'long-polling': 10, polling: 10 }, rooms: ['a', 'b'], perProcess: 20, pollIntervalMs: 200 });
      try {
        assert.equal(summary.failed, 0);
        const publisher = new Publisher(bare.baseUrl);
        for (let i = 0; i < 5; i++) await Promise.all([publisher.publish('a'), publisher.publish('b')]);
        publisher.close();
        assert.deepEqual(publisher.expected(), { a: [1, 2, 3, 4, 5], b: [1, 2, 3, 4, 5] });
        assert.equal((await load.settle(publisher.expected(), 10_000)).behind, 0);
        const report = await load.check(publisher.expected());
        for (const kind of ['websocket', 'sse', 'long-polling', 'polling'] as const) {
          const k = report.get(kind)!;
          assert.deepEqual({ kind, complete: k.complete, lost: k.lost, doubled: k.doubled, outOfOrder: k.outOfOrder }, { kind, complete: 10, lost: 0, doubled: 0, outOfOrder: 0 });
        }
      } finally {
        await load.close();
      }
    } finally {
      await bare.stop();
    }
  });

  it('keeps its WebSockets up while the server pings them (every ping answered)', async () => {
    const pinging = await ServerUnderTest.switchboard([...loadFriendlyArgs(200), '--store', 'memory', '--heartbeat-ms', '150']);
    try {
      await createRooms(pinging.baseUrl, ['p']);
      const { load, summary } = await LoadCoordinator.connect({ baseUrl: pinging.baseUrl, counts: { websocket: 5 }, rooms: ['p'] });
      try {
        assert.equal(summary.failed, 0);
        // Some ten ping intervals: a client that did not answer would be dropped after one.
        await new Promise((r) => setTimeout(r, 1500));
        const publisher = new Publisher(pinging.baseUrl);
        for (let i = 0; i < 3; i++) await publisher.publish('p');
        publisher.close();
        assert.equal((await load.settle(publisher.expected(), 10_000)).behind, 0);
        const k = (await load.check(publisher.expected())).get('websocket')!;
        assert.deepEqual({ complete: k.complete, lost: k.lost, down: k.down, errors: k.errors }, { complete: 5, lost: 0, down: 0, errors: {} });
      } finally {
        await load.close();
      }
    } finally {
      await pinging.stop();
    }
  });

  it('resumes from the cursor after cutting its own connections, and measures the replay', async () => {
    const { load } = await LoadCoordinator.connect({
      baseUrl: server.baseUrl,
      counts: { websocket: 10, sse: 10 },
      rooms: ['a'],
      reconnectMs: 100,
      cut: { everyMs: 400, awayMs: 200 },
    });
    try {
      load.jitter();
      const publisher = new Publisher(server.baseUrl);
      for (let i = 0; i < 40; i++) {
        await publisher.publish('a');
        await new Promise((r) => setTimeout(r, 50));
      }
      publisher.close();
      load.calm();
      assert.equal((await load.settle(publisher.expected(), 10_000)).behind, 0, 'every client back and caught up');
      const report = await load.check(publisher.expected());
      for (const kind of ['websocket', 'sse'] as const) {
        const k = report.get(kind)!;
        assert.ok(k.cuts >= 10, `${kind}: ${k.cuts} cuts`);
        assert.ok(k.replayMs.length > 0, `${kind}: no message was published while a client was away`);
        assert.deepEqual({ kind, complete: k.complete, lost: k.lost, doubled: k.doubled, down: k.down }, { kind, complete: 10, lost: 0, doubled: 0, down: 0 });
      }
    } finally {
      await load.close();
    }
  });
});
