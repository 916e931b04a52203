/**
 * The benchmark's load generator (bench/load/) is itself checked: against the real built
 * server, its clients of every transport get what was published, once, in order, also when
 * they cut their own connections and resume; and its delivery check catches loss, doubles
 * and disorder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkDeliveries } from '../bench/load/delivery-check.js';
import { LoadCoordinator } from '../bench/load/load-coordinator.js';
import { Publisher, createRooms } from '../bench/load/publisher.js';
import { ServerUnderTest, loadFriendlyArgs } from '../bench/load/server-under-test.js';

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
