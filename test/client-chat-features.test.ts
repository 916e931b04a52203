import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FoldedMessages, SwitchboardError, TRANSPORTS, connect, type Client, type ConnectOptions, type Entry, type MessageEntry, type ReadReceipt, type TransportName, type WireEvent } from '../src/client/index.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { MemoryStore } from '../src/server/store/memory-store.js';

/**
 * Issue 11 through the SDK, on each of the four transports: two clients in one room, replies,
 * edits, deletes, reactions, read positions and search, across a server restart (a forced
 * reconnect with resume). Real server, real sockets.
 */

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A server on `port` (0: any) over `store`, so a restart keeps the log; fast shutdown. */
async function startServer(store: MemoryStore, port: number): Promise<{ server: Switchboard; port: number }> {
  const server = createSwitchboard({ port, host: '127.0.0.1', store: 'memory', messageStore: store, logLevel: 'silent', shutdownTimeoutMs: 500, rateLimitPerSecond: 10_000, rateLimitBurst: 10_000 });
  return { server, port: await server.listen() };
}

function assertNoGapNoDouble(entries: readonly Entry[], who: string): void {
  for (let i = 1; i < entries.length; i++) {
    assert.equal(entries[i]!.seq, entries[i - 1]!.seq + 1, `${who}: seq ${entries[i - 1]!.seq} is followed by ${entries[i]!.seq}`);
  }
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof SwitchboardError && err.code === code, `expected ${code}`);
}

/** Outgoing read positions on the wire: `mark-read` frames, `PUT .../read` requests. */
function markReadsSent(events: readonly WireEvent[]): number {
  return events.filter((e) => e.direction === 'out' && ((e.kind === 'ws' && e.summary.includes('"mark-read"')) || (e.method === 'PUT' && e.path?.includes('/read')))).length;
}

describe('chat features through the SDK (issue 11)', () => {
  const servers = new Set<Switchboard>();
  const clients: Client[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([...servers].map((s) => s.close()));
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: replies, edits, deletes, reactions, read positions and search; seen once, in order, across a reconnect`, { timeout: 60_000 }, async () => {
      const store = new MemoryStore();
      let { server, port } = await startServer(store, 0);
      servers.add(server);
      const url = `http://127.0.0.1:${port}`;
      const room = `chat-${transport}`;
      await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
      // Said before anyone connected (history only).
      const early = await fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'before you came', name: 'carl', member: 'carl' }) });
      assert.equal(early.status, 201);

      const options: ConnectOptions = { url, room, name: '', transport: transport as TransportName, pollIntervalMs: 50, reconnect: { initialDelayMs: 50, maxDelayMs: 250 }, openTimeoutMs: 3000 };
      const ann = await connect({ ...options, name: 'ann', member: 'ann' });
      const bob = await connect({ ...options, name: 'bob', member: 'bob' });
      clients.push(ann, bob);
      const seen = new Map<Client, Entry[]>([
        [ann, []],
        [bob, []],
      ]);
      const folds = new Map<Client, FoldedMessages>();
      const bobEvents: string[] = [];
      const receipts: ReadReceipt[] = [];
      const bobWire: WireEvent[] = [];
      for (const c of [ann, bob]) {
        const fold = new FoldedMessages();
        folds.set(c, fold);
        c.on('entry', (e) => {
          seen.get(c)!.push(e);
          fold.apply(e);
        });
        fold.load((await c.history()).entries);
      }
      bob.on('message', (m) => bobEvents.push(`message #${m.seq}`));
      bob.on('edit', (e) => bobEvents.push(`edit #${e.target}: ${e.text}`));
      bob.on('delete', (e) => bobEvents.push(`delete #${e.target}`));
      bob.on('reaction', (e) => bobEvents.push(`reaction ${e.from.name} ${e.emoji} ${e.on} #${e.target}`));
      bob.on('receipt', (r) => receipts.push(r));
      bob.on('wire', (w) => bobWire.push(w));

      // Replies, edits, reactions (toggles and an explicit on), a delete.
      const hello = await ann.publish('hello wörld');
      const reply = await bob.publish('hi @Ann', { replyTo: hello.seq });
      await ann.edit(hello.seq, 'hello world, edited');
      await bob.react(hello.seq, '👍');
      await ann.react(hello.seq, '👍', { on: true });
      await bob.react(hello.seq, '👍');
      const doomed = await ann.publish('secret plans');
      const quoting = await bob.publish('quoting the secret', { replyTo: doomed.seq });
      await bob.react(doomed.seq, '😮');
      const deleted = await ann.delete(doomed.seq);
      const pudding = await ann.publish('Crème brûlée for @bob, not for @bobby');

      // Refusals reach the caller with their catalog code, on this transport too.
      await rejectsWith(bob.edit(hello.seq, 'not yours'), 'FORBIDDEN');
      await rejectsWith(bob.delete(hello.seq), 'FORBIDDEN');
      await rejectsWith(ann.edit(doomed.seq, 'too late'), 'MESSAGE_DELETED');
      await rejectsWith(bob.publish('answering nothing', { replyTo: doomed.seq }), 'MESSAGE_DELETED');
      await rejectsWith(bob.react(99_999, '👍'), 'MESSAGE_NOT_FOUND');
      await rejectsWith(bob.react(hello.seq, 'two words'), 'BAD_REQUEST');

      // A retried amendment (same clientId) is stored once.
      const first = await bob.react(reply.seq, '🎉', { clientId: `retry-${transport}` });
      const again = await bob.react(reply.seq, '🎉', { clientId: `retry-${transport}` });
      assert.equal(again.seq, first.seq);
      assert.equal(again.duplicate, true, `a retry: ${JSON.stringify([first, again])}`);

      // A forced reconnect: the server restarts (same store); what is sent meanwhile waits.
      await server.close();
      servers.delete(server);
      const waiting = ann.edit(hello.seq, 'edited across the restart');
      ({ server } = await startServer(store, port));
      servers.add(server);
      const restartEdit = await waiting;
      const last = await bob.react(quoting.seq, '❤️', { on: true });
      assert.ok(restartEdit.seq < last.seq);

      for (const [c, entries] of seen) await waitFor(() => entries.at(-1)?.seq === last.seq, `${c.name} to see #${last.seq} over ${transport}`);
      for (const [c, entries] of seen) assertNoGapNoDouble(entries, `${c.name} over ${transport}`);
      assert.equal(seen.get(bob)![0]!.seq, hello.seq, 'bob saw everything from the first live message on');

      // The reply was sent with the quote of the message as it was then.
      const replyEntry = seen.get(bob)!.find((e) => e.seq === reply.seq) as MessageEntry;
      assert.deepEqual(replyEntry.reply, { seq: hello.seq, from: { name: 'ann', member: 'ann' }, text: 'hello wörld' });
      assert.equal(replyEntry.replyTo, hello.seq);

      // Each event once, in order.
      assert.deepEqual(bobEvents, [
        `message #${hello.seq}`,
        `message #${reply.seq}`,
        `edit #${hello.seq}: hello world, edited`,
        `reaction bob 👍 true #${hello.seq}`,
        `reaction ann 👍 true #${hello.seq}`,
        `reaction bob 👍 false #${hello.seq}`,
        `message #${doomed.seq}`,
        `message #${quoting.seq}`,
        `reaction bob 😮 true #${doomed.seq}`,
        `delete #${doomed.seq}`,
        `message #${pudding.seq}`,
        `reaction bob 🎉 true #${reply.seq}`,
        `edit #${hello.seq}: edited across the restart`,
        `reaction bob ❤️ true #${quoting.seq}`,
      ]);
      assert.equal(deleted.seq, doomed.seq + 3);

      // Both copies, folded from history and live entries, agree with each other and with the server's history.
      const history = await ann.history({ limit: 100 });
      assert.ok(
        history.entries.every((e) => e.type === 'message' || e.type === 'join' || e.type === 'leave'),
        'history leaves amendment entries out',
      );
      const fromHistory = new FoldedMessages();
      fromHistory.load(history.entries);
      assert.deepEqual(folds.get(ann)!.messages(), fromHistory.messages());
      assert.deepEqual(folds.get(bob)!.messages(), fromHistory.messages());
      const folded = fromHistory.get(hello.seq)!;
      assert.equal(folded.text, 'edited across the restart');
      assert.deepEqual(folded.edited, { seq: restartEdit.seq, ts: folded.edited!.ts });
      assert.deepEqual(folded.reactions, [{ emoji: '👍', count: 1, by: [{ member: 'ann', name: 'ann' }] }]);
      assert.equal(fromHistory.get(doomed.seq)!.deleted, true);
      assert.equal(fromHistory.get(doomed.seq)!.text, '');
      assert.equal(fromHistory.get(doomed.seq)!.reactions, undefined);
      assert.deepEqual(fromHistory.get(quoting.seq)!.reply, { seq: doomed.seq, from: { name: 'ann', member: 'ann' }, text: '', deleted: true });
      assert.ok(!JSON.stringify(history).includes('secret plans'), 'the deleted text is gone from history');

      // Search: current text, every word a prefix, diacritics and case ignored; deleted messages never match.
      const byEdit = await bob.search('ACROSS rest');
      assert.deepEqual(
        byEdit.results.map((m) => m.seq),
        [hello.seq],
      );
      assert.equal(byEdit.results[0]!.text, 'edited across the restart');
      assert.deepEqual((await bob.search('wörld')).results, [], 'the text before the edit does not match');
      assert.deepEqual(
        (await ann.search('creme brul')).results.map((m) => m.seq),
        [pudding.seq],
      );
      assert.deepEqual(
        (await ann.search('secret')).results.map((m) => m.seq),
        [quoting.seq],
      );
      const page = await ann.search('the', { limit: 1 });
      assert.equal(page.results.length, 1);
      assert.equal(page.more, true);
      const next = await ann.search('the', { limit: 1, before: page.results[0]!.seq });
      assert.ok(next.results[0]!.seq < page.results[0]!.seq);

      // Read positions: coalesced, shared by a member's clients, seen by the others.
      const unread = await bob.readState();
      assert.equal(unread.seq, 0);
      // Not bob's own, not deleted: carl's, hello, pudding; pudding mentions @bob (@bobby does not count).
      assert.equal(unread.unread, 3);
      assert.equal(unread.mentions, 1);
      const before = markReadsSent(bobWire);
      const marks = await Promise.all([bob.markRead(hello.seq), bob.markRead(reply.seq), bob.markRead(pudding.seq)]);
      assert.equal(marks[2], pudding.seq);
      assert.ok(marks.every((m) => m >= hello.seq));
      assert.ok(markReadsSent(bobWire) - before <= 2, `calls coalesce (${markReadsSent(bobWire) - before} sent for 3 calls)`);
      assert.equal(await bob.markRead(hello.seq), pudding.seq, 'never lower; no request for a position already stored');

      const annStored = await ann.markRead(reply.seq);
      assert.equal(annStored, reply.seq);
      const annTab = await connect({ ...options, name: 'ann', member: 'ann' });
      clients.push(annTab);
      const shared = await annTab.readState();
      assert.equal(shared.seq, reply.seq, "ann's other tab shares her position");
      assert.equal(shared.mentions, 0);
      assert.equal(await annTab.markRead(hello.seq), reply.seq, 'a lower position leaves it where it is');
      const members = (await bob.readState()).members;
      assert.deepEqual(
        members.map((m) => [m.member, m.seq]),
        [
          ['bob', pudding.seq],
          ['ann', reply.seq],
        ],
      );
      if (transport === 'websocket' || transport === 'sse') {
        await waitFor(() => receipts.some((r) => r.member === 'ann' && r.seq === reply.seq), `ann's receipt over ${transport}`);
        assert.deepEqual(
          receipts.find((r) => r.member === 'ann'),
          { room, member: 'ann', name: 'ann', seq: reply.seq },
        );
      } else {
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(receipts, [], 'polling transports have no receipts');
      }
      await Promise.all([ann.close(), bob.close(), annTab.close()]);
    });
  }

  it('a reader that marks each message of a busy room read keeps its typing notices: positions go out at most once a second', { timeout: 20_000 }, async () => {
    const store = new MemoryStore();
    const { server, port } = await startServer(store, 0);
    servers.add(server);
    const url = `http://127.0.0.1:${port}`;
    const room = 'busy-reader';
    await fetch(`${url}/api/rooms/${room}`, { method: 'PUT' });
    const reader = await connect({ url, room, name: 'rea', member: 'rea', transport: 'websocket' });
    const other = await connect({ url, room, name: 'oth', member: 'oth', transport: 'websocket' });
    clients.push(reader, other);
    const wire: WireEvent[] = [];
    reader.on('wire', (e) => wire.push(e));
    const errors: string[] = [];
    reader.on('error', (e) => errors.push(e.code));
    const typists: string[] = [];
    other.on('typing', (n) => typists.push(n.from.member ?? n.from.name));
    // As the web app does: the newest message is in view, so it is read as it comes.
    let last = 0;
    reader.on('message', (m) => {
      last = m.seq;
      reader.markRead(m.seq).catch(() => {});
    });
    // 40 messages in about a second and a half (a room with a message every 40 ms).
    const began = Date.now();
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${url}/api/rooms/${room}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `busy ${i}`, name: 'oth', member: 'oth' }) });
      assert.equal(res.status, 201);
      await new Promise((r) => setTimeout(r, 40));
    }
    await waitFor(() => last > 0 && wire.filter((e) => e.direction === 'in' && e.summary.includes('"busy 39"')).length === 1, 'the 40th message');
    reader.typing();
    await waitFor(() => typists.includes('rea'), "the reader's typing notice");
    assert.equal(await reader.markRead(last), last, 'the newest position is stored');
    const took = Date.now() - began;
    const marks = markReadsSent(wire);
    const limitedSoFar = wire.filter((e) => e.direction === 'in' && e.summary.includes('RATE_LIMITED')).length;
    // One at once, then one a second at most (a slow machine takes longer over the feed, and may send more).
    assert.ok(marks <= Math.floor(took / 1000) + 1, `${marks} positions sent for 40 messages in ${took} ms (${limitedSoFar} answered RATE_LIMITED)`);
    const sentAt = wire.filter((e) => e.direction === 'out' && e.kind === 'ws' && e.summary.includes('"mark-read"')).map((e) => e.at);
    for (let i = 1; i < sentAt.length; i++) assert.ok(sentAt[i]! - sentAt[i - 1]! >= 950, `positions ${sentAt[i]! - sentAt[i - 1]!} ms apart`);
    assert.deepEqual(errors, [], 'nothing refused');
    const limited = wire.filter((e) => e.direction === 'in' && e.summary.includes('RATE_LIMITED')).length;
    assert.equal(limited, 0, `${limited} answers RATE_LIMITED (positions and typing notices share one budget)`);
    await Promise.all([reader.close(), other.close()]);
  });

  it('amendments and markRead wait in order while reconnecting, and are refused once the client is closed', { timeout: 20_000 }, async () => {
    const store = new MemoryStore();
    let { server, port } = await startServer(store, 0);
    servers.add(server);
    const url = `http://127.0.0.1:${port}`;
    const c = await connect({ url, room: 'waits', name: 'w', member: 'w', create: true, transport: 'websocket', reconnect: { initialDelayMs: 50, maxDelayMs: 250 } });
    clients.push(c);
    const m = await c.publish('first');
    await server.close();
    servers.delete(server);
    await waitFor(() => c.status === 'reconnecting', 'the client to notice');
    const order: string[] = [];
    const pending = [
      c.edit(m.seq, 'second').then((a) => (order.push('edit'), a.seq)),
      c.react(m.seq, '👀').then((a) => (order.push('react'), a.seq)),
      c.markRead(m.seq).then((s) => (order.push('read'), s)),
    ];
    ({ server } = await startServer(store, port));
    servers.add(server);
    const [editSeq, reactSeq, read] = await Promise.all(pending);
    assert.ok(editSeq! < reactSeq!, 'stored in the order made');
    assert.equal(read, m.seq);
    await c.close();
    await assert.rejects(c.edit(m.seq, 'x'), (err: unknown) => (err as { code?: string }).code === 'CLOSED');
    await assert.rejects(c.markRead(m.seq), (err: unknown) => (err as { code?: string }).code === 'CLOSED');
    await assert.rejects(c.delete(m.seq), (err: unknown) => (err as { code?: string }).code === 'CLOSED');
    await assert.rejects(c.react(m.seq, '👀'), (err: unknown) => (err as { code?: string }).code === 'CLOSED');
  });
});

