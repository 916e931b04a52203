import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TRANSPORTS, connect, type Ack, type Client, type Entry, type Status, type TransportName } from '../src/client/index.js';
import { createSwitchboard, type Switchboard } from '../src/server/server.js';
import { MemoryStore } from '../src/server/store/memory-store.js';

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server on `port` (0: any) over `store`; fast shutdown so a restart takes little time. */
async function startServer(store: MemoryStore, port: number): Promise<{ server: Switchboard; port: number }> {
  const server = createSwitchboard({
    port,
    host: '127.0.0.1',
    store: 'memory',
    messageStore: store,
    logLevel: 'silent',
    shutdownTimeoutMs: 500,
    rateLimitPerSecond: 10_000,
    rateLimitBurst: 10_000,
  });
  return { server, port: await server.listen() };
}

describe('client reconnect across a server restart', () => {
  const servers = new Set<Switchboard>();
  const clients: Client[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([...servers].map((s) => s.close()));
  });

  for (const transport of TRANSPORTS) {
    it(`${transport}: resumes with no loss and no duplicate`, { timeout: 20_000 }, async () => {
      const store = new MemoryStore();
      let { server, port } = await startServer(store, 0);
      servers.add(server);
      const url = `http://127.0.0.1:${port}`;
      await fetch(`${url}/api/rooms/restart`, { method: 'PUT' });
      const options = { url, room: 'restart', pollIntervalMs: 50, reconnect: { initialDelayMs: 50, maxDelayMs: 250 }, openTimeoutMs: 2000 };
      const reader = await connect({ ...options, name: 'reader', transport });
      const writer = await connect({ ...options, name: 'writer', transport: transport as TransportName });
      clients.push(reader, writer);
      const seen: Entry[] = [];
      reader.on('entry', (e) => seen.push(e));
      const statuses: Status[] = [];
      reader.on('status', (s) => statuses.push(s.status));

      // Publish without waiting for acks: those made while the server is away wait in the outbox.
      const acks: Promise<Ack>[] = [];
      const waitedMs: number[] = [];
      const total = 60;
      const publishing = (async () => {
        for (let i = 1; i <= total; i++) {
          const sent = Date.now();
          acks.push(writer.publish(`r${i}`).then((ack) => (waitedMs.push(Date.now() - sent), ack)));
          await sleep(15);
        }
      })();
      await sleep(250);
      await server.close();
      servers.delete(server);
      // Away for twice the wait asserted below: a loaded machine (CI) still sees publishes wait.
      await sleep(300);
      ({ server } = await startServer(store, port));
      servers.add(server);
      await publishing;

      const settled = await Promise.all(acks);
      await waitFor(() => seen.filter((e) => e.type === 'message').length >= total, `${total} messages on ${transport}`);
      const messages = seen.filter((e) => e.type === 'message');
      assert.deepEqual(
        messages.map((e) => e.text),
        Array.from({ length: total }, (_, i) => `r${i + 1}`),
        'every message once, in order',
      );
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.seq > seen[i - 1]!.seq, 'no entry delivered twice');
      assert.deepEqual(
        settled.map((a) => a.seq),
        messages.map((e) => e.seq),
        'acks match what was delivered',
      );
      assert.ok(Math.max(...waitedMs) >= 150, `some publishes waited for the server to come back (longest wait ${Math.max(...waitedMs)} ms)`);
      assert.ok(statuses.includes('reconnecting'), `the reader saw the loss (${statuses.join(', ')})`);
      assert.equal(reader.status, 'connected');
      assert.equal(reader.transport, transport);

      // The log holds each message once (retries reused their clientId).
      const stored = await store.readAfter('restart', 0, 1000);
      const storedMessages = stored.filter((e) => e.type === 'message');
      assert.equal(storedMessages.length, total);
      assert.equal(new Set(storedMessages.map((e) => e.clientId)).size, total);

      await reader.close();
      await writer.close();
      await server.close();
      servers.delete(server);
    });
  }
});

describe('polling clients past the server\'s --read-rate', () => {
  for (const transport of ['long-polling', 'polling'] as const) {
    it(`${transport}: a backlog of 6 MiB at 1 MiB a second (burst 4) comes whole and in order, the transport kept: a refused poll is asked again`, { timeout: 30_000 }, async () => {
      const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 10_000, rateLimitBurst: 10_000, readMiBPerSecond: 1 });
      const port = await server.listen();
      let client: Client | undefined;
      try {
        const url = `http://127.0.0.1:${port}`;
        await fetch(`${url}/api/rooms/backlog`, { method: 'PUT' });
        const text = 'lorem ipsum dolor sit amet '.repeat(2400).slice(0, 64_000);
        const total = 100;
        for (let i = 1; i <= total; i++) await server.publish('backlog', { text: `${i} ${text}` });
        const { epoch } = await server.history('backlog', { limit: 1 });
        client = await connect({ url, room: 'backlog', name: 'reader', transport, after: `${epoch}:0`, pollIntervalMs: 50, reconnect: { initialDelayMs: 50, maxDelayMs: 250 } });
        const seen: number[] = [];
        const statuses: Status[] = [];
        client.on('status', (s) => statuses.push(s.status));
        client.on('entry', (e) => {
          if (e.type === 'message') seen.push(Number(e.text.split(' ')[0]));
        });
        await waitFor(() => seen.length >= total, `${total} messages`, 25_000);
        assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i + 1));
        assert.deepEqual(statuses.filter((s) => s !== 'connected'), [], 'never reconnected');
      } finally {
        await client?.close();
        await server.close();
      }
    });
  }
});
