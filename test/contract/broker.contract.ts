import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Entry, TypingNotice } from '../../src/protocol/types.js';
import type { Broker, BrokerMessage } from '../../src/server/broker/broker.js';

/**
 * What a broker's test file hands the contract. `make` is called once per test and returns
 * initialised brokers that are meant to hear each other (the nodes of one cluster: one for a
 * single-node broker, several for a shared one). `cleanup` closes them (close must be idempotent)
 * and removes what they left behind.
 */
export interface BrokerFixture {
  brokers: Broker[];
  cleanup: () => Promise<void>;
}

const entry: Entry = {
  type: 'message',
  room: 'lobby',
  seq: 7,
  ts: 1_700_000_000_123,
  from: { id: 'conn-1', name: '김민지 🐻', member: 'm-1', transport: 'sse' },
  text: '안녕 👋 "hi"\n',
  clientId: 'cid-1',
};
const join: Entry = { type: 'join', room: 'lobby', seq: 8, ts: 1_700_000_000_456, from: { id: 'conn-2', name: 'bob' } };
const typing: TypingNotice = { room: 'lobby', from: { id: 'conn-2', name: 'bob' } };

/** Collects what a broker's handler receives. */
function listen(broker: Broker): BrokerMessage[] {
  const got: BrokerMessage[] = [];
  broker.onMessage((m) => got.push(m));
  return got;
}

async function waitFor(got: BrokerMessage[], count: number, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (got.length < count) {
    assert.ok(Date.now() < deadline, `received ${got.length} of ${count} messages within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** The Broker contract (see broker.ts), as a suite every implementation must pass. */
export function brokerContract(name: string, make: () => Promise<BrokerFixture>): void {
  async function withBrokers(fn: (fixture: BrokerFixture) => Promise<void>): Promise<void> {
    const fixture = await make();
    try {
      // Brokers with per-room interest deliver a room only to nodes that watch it.
      for (const b of fixture.brokers) await b.watch?.('lobby');
      await fn(fixture);
    } finally {
      await fixture.cleanup();
    }
  }

  describe(`Broker contract: ${name}`, () => {
    it('hands a message from any node to every node, the publisher included', () =>
      withBrokers(async ({ brokers }) => {
        const inboxes = brokers.map(listen);
        for (const [i, publisher] of brokers.entries()) {
          const message: BrokerMessage = { kind: 'entry', epoch: `epoch-${i}`, entry: { ...entry, seq: i + 1 } };
          await publisher.publish(message);
          for (const inbox of inboxes) {
            await waitFor(inbox, i + 1);
            assert.deepEqual(inbox[i], message);
          }
        }
      }));

    it('round-trips entries and typing notices exactly', () =>
      withBrokers(async ({ brokers }) => {
        const inboxes = brokers.map(listen);
        const messages: BrokerMessage[] = [
          { kind: 'entry', epoch: 'e1', entry },
          { kind: 'entry', epoch: 'e1', entry: join },
          { kind: 'typing', notice: typing },
        ];
        for (const m of messages) await brokers[0]!.publish(m);
        for (const inbox of inboxes) {
          await waitFor(inbox, messages.length);
          assert.deepEqual(inbox, messages);
          assert.equal('text' in (inbox[1] as { entry: Entry }).entry, false);
        }
      }));

    it('delivers a burst of messages to every node', () =>
      withBrokers(async ({ brokers }) => {
        const inboxes = brokers.map(listen);
        const sent = Array.from({ length: 200 }, (_, i): BrokerMessage => ({ kind: 'entry', epoch: 'e', entry: { ...entry, seq: i + 1 } }));
        await Promise.all(sent.map((m, i) => brokers[i % brokers.length]!.publish(m)));
        for (const inbox of inboxes) {
          await waitFor(inbox, sent.length);
          const seqs = inbox.map((m) => (m.kind === 'entry' ? m.entry.seq : 0)).sort((a, b) => a - b);
          assert.deepEqual(seqs, sent.map((_, i) => i + 1));
        }
      }));

    it('calls only the latest handler', () =>
      withBrokers(async ({ brokers }) => {
        const stale = listen(brokers[0]!);
        const fresh = listen(brokers[0]!);
        await brokers[0]!.publish({ kind: 'typing', notice: typing });
        await waitFor(fresh, 1);
        await sleep(20);
        assert.equal(stale.length, 0);
      }));

    it('per-room interest: a node hears only the rooms it watches, every node hears disconnect orders', () =>
      withBrokers(async ({ brokers }) => {
        const [a, b] = [brokers[0]!, brokers[brokers.length - 1]!];
        if (!a.watch || !a.unwatch || !b.watch || !b.unwatch) return; // delivers every room everywhere: nothing to check
        await a.watch('only-a');
        await b.watch('only-b');
        const inboxes = brokers.map(listen);
        const about = (room: string): BrokerMessage[] => [
          { kind: 'entry', epoch: 'e', entry: { ...entry, room, seq: 1 } },
          { kind: 'typing', notice: { ...typing, room } },
          { kind: 'presence', notice: { room, members: [] } },
          { kind: 'room', action: 'reset', room },
        ];
        for (const m of [...about('only-a'), ...about('only-b'), ...about('nobody')]) await brokers[1 % brokers.length]!.publish(m);
        const order: BrokerMessage = { kind: 'disconnect', member: 'm-1' };
        await a.publish(order);
        for (const inbox of inboxes) await waitFor(inbox, 1);
        await sleep(100);
        const rooms = (inbox: BrokerMessage[]): string[] => inbox.map((m) => (m.kind === 'entry' ? m.entry.room : m.kind === 'typing' || m.kind === 'presence' ? m.notice.room : m.kind === 'room' ? m.room : 'order'));
        // Sorted: messages of different publishers have no order between them (the contract).
        if (a !== b) {
          assert.deepEqual(rooms(inboxes[0]!).sort(), ['only-a', 'only-a', 'only-a', 'only-a', 'order']);
          assert.deepEqual(rooms(inboxes[brokers.length - 1]!).sort(), ['only-b', 'only-b', 'only-b', 'only-b', 'order']);
        }
        // Counted: two watches need two unwatches.
        await a.watch('only-a');
        a.unwatch('only-a');
        await b.publish({ kind: 'typing', notice: { ...typing, room: 'only-a' } });
        await waitFor(inboxes[0]!, 6);
        a.unwatch('only-a');
        await sleep(50);
        await b.publish({ kind: 'typing', notice: { ...typing, room: 'only-a' } });
        await b.publish(order);
        await waitFor(inboxes[0]!, 7);
        await sleep(100);
        assert.deepEqual(rooms(inboxes[0]!).slice(5), ['only-a', 'order'], 'nothing of a room no longer watched');
        // Watched again: heard again from the moment watch resolves.
        await a.watch('only-a');
        await b.publish({ kind: 'typing', notice: { ...typing, room: 'only-a' } });
        await waitFor(inboxes[0]!, 8);
      }));

    it('answers ping, closes cleanly and twice, and never rejects a publish after close', () =>
      withBrokers(async ({ brokers }) => {
        for (const b of brokers) assert.equal(await b.ping(), true);
        for (const b of brokers) {
          await b.close();
          await b.close();
          await b.publish({ kind: 'typing', notice: typing });
        }
      }));
  });
}
