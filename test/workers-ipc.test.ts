/**
 * The IPC parts of `--workers` in one process: workers' brokers and presence stores talk to the
 * primary's services (relay, shared MemoryPresenceStore) over real MessageChannels (each message
 * cloned and delivered asynchronously, as node's IPC does), and pass the Broker and
 * PresenceStore contract suites; per-room interest follows the shared interface of broker.ts.
 * test/workers.test.ts runs the same code across real processes.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { BrokerMessage } from '../src/server/broker/broker.js';
import { IpcBroker } from '../src/server/broker/ipc-broker.js';
import { IpcPresenceStore } from '../src/server/presence/ipc-presence-store.js';
import { MemoryPresenceStore } from '../src/server/presence/memory-presence-store.js';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchingPort, batchOf } from '../src/server/workers/batching-port.js';
import { nodePort, type IpcPort, type ToPrimary, type ToWorker } from '../src/server/workers/ipc-protocol.js';
import { MAX_WORKER_BACKLOG, Relay } from '../src/server/workers/relay.js';
import { PrimaryClient, PrimaryUnavailableError } from '../src/server/workers/primary-client.js';
import { PrimaryServices } from '../src/server/workers/primary-services.js';
import { SharedLimits } from '../src/server/workers/shared-limits.js';
import { Limits, type Budget, type Held, type LimitPeers } from '../src/server/session/limits.js';
import type { SwitchboardError } from '../src/protocol/errors.js';
import type { AppendResult } from '../src/server/store/message-store.js';
import { SqliteStore } from '../src/server/store/sqlite-store.js';
import { brokerContract } from './contract/broker.contract.js';
import { messageStoreContract } from './contract/message-store.contract.js';
import { presenceStoreContract } from './contract/presence-store.contract.js';

function portOf<Out>(port: MessagePort, open: () => boolean, posted = (): void => {}): IpcPort<Out> {
  return {
    send: (m) => {
      if (!open()) return;
      posted();
      port.postMessage(m);
    },
    onMessage(handler) {
      const listener = (m: unknown): void => handler(m);
      port.on('message', listener);
      return () => void port.off('message', listener);
    },
    connected: open,
  };
}

/**
 * A primary and `n` workers' clients, each over a MessageChannel of its own, with BatchingPorts
 * at both ends as in production. `toPrimary[i]` and `toWorker[i]` count the messages that
 * crossed each way (channel messages: a batch counts one), worker i+1.
 */
function cluster(n: number, options: { silentPrimary?: boolean; store?: SqliteStore } = {}) {
  const services = new PrimaryServices({ presence: new MemoryPresenceStore(), presenceKey: 'a2V5', metrics: async () => '# none\n', ...(options.store ? { store: options.store } : {}) });
  const channels: MessageChannel[] = [];
  const clients: PrimaryClient[] = [];
  const toPrimary: number[] = [];
  const toWorker: number[] = [];
  let open = true;
  let posted = 0;
  let arrived = 0;
  const post = (): void => void posted++;
  const add = (): PrimaryClient => {
    const id = clients.length + 1;
    const channel = new MessageChannel();
    channels.push(channel);
    toPrimary.push(0);
    toWorker.push(0);
    services.attach(id, new BatchingPort(portOf<ToWorker>(channel.port1, () => open, post), batchOf));
    channel.port2.on('message', () => {
      arrived++;
      toWorker[id - 1]!++;
    });
    channel.port1.on('message', (m: unknown) => {
      arrived++;
      toPrimary[id - 1]!++;
      if (!options.silentPrimary) services.receive(id, m);
    });
    const client = new PrimaryClient(new BatchingPort(portOf<ToPrimary>(channel.port2, () => open, post), batchOf));
    clients.push(client);
    return client;
  };
  for (let id = 1; id <= n; id++) add();
  return {
    services,
    clients,
    toPrimary,
    toWorker,
    /** Attaches one more worker (the next id), as a fork does. */
    add,
    /**
     * Resolves once every message sent either way has arrived and been handled, and nothing more
     * was sent for three turns of the event loop (a BatchingPort sends a turn's messages on the
     * next turn). Not a fixed sleep: a busy machine's timer can fire before the turn's I/O
     * delivers what was posted (CI of 7abfdc0 read worker 2's limits 20 ms after a connection on
     * worker 1, before its count had come).
     */
    async settled(): Promise<void> {
      const deadline = performance.now() + 5000;
      for (let quiet = 0; quiet < 3; ) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        quiet = posted === arrived ? quiet + 1 : 0;
        if (performance.now() > deadline) throw new Error(`${posted - arrived} IPC messages still in flight after 5 s`);
      }
    },
    close() {
      open = false;
      for (const c of clients) c.close();
      for (const ch of channels) {
        ch.port1.close();
        ch.port2.close();
      }
    },
  };
}

brokerContract('ipc (three workers through the primary)', async () => {
  const c = cluster(3);
  const brokers = c.clients.map((client) => new IpcBroker(client));
  for (const b of brokers) await b.init();
  return {
    brokers,
    cleanup: async () => {
      for (const b of brokers) await b.close();
      c.close();
    },
  };
});

presenceStoreContract("ipc (two workers, the primary's memory store)", async () => {
  const c = cluster(2);
  return { a: new IpcPresenceStore(c.clients[0]!), b: new IpcPresenceStore(c.clients[1]!), cleanup: async () => c.close() };
});

const entry = (room: string, seq: number): BrokerMessage => ({ kind: 'entry', epoch: 'e', entry: { type: 'message', room, seq, ts: 1, from: { id: 'c', name: 'n' }, text: `${room}-${seq}` } });
const seqsOf = (got: BrokerMessage[], room: string): number[] => got.flatMap((m) => (m.kind === 'entry' && m.entry.room === room ? [m.entry.seq] : []));

describe('IPC broker: per-room interest', () => {
  it('a worker gets only the rooms it watches (every disconnect order), counted per room; one that never watched gets every room', async () => {
    const c = cluster(3);
    const brokers = c.clients.map((client) => new IpcBroker(client));
    const inbox: BrokerMessage[][] = brokers.map(() => []);
    for (const [i, b] of brokers.entries()) {
      await b.init();
      b.onMessage((m) => inbox[i]!.push(m));
    }
    try {
      const [a, b] = brokers as [IpcBroker, IpcBroker, IpcBroker];
      await a.watch('r1');
      await a.watch('r1');
      await b.watch('r2');
      await b.publish(entry('r1', 1));
      await b.publish(entry('r2', 2));
      await a.publish(entry('r3', 3));
      await b.publish({ kind: 'disconnect', member: 'm' });
      await c.settled();
      assert.deepEqual(seqsOf(inbox[0]!, 'r1'), [1], 'A watches r1');
      assert.deepEqual([seqsOf(inbox[0]!, 'r2'), seqsOf(inbox[0]!, 'r3')], [[], []], 'A watches neither r2 nor r3, not even its own r3');
      assert.deepEqual([seqsOf(inbox[1]!, 'r1'), seqsOf(inbox[1]!, 'r2'), seqsOf(inbox[1]!, 'r3')], [[], [2], []], 'B watches r2 only (its own r1 included)');
      assert.deepEqual([seqsOf(inbox[2]!, 'r1'), seqsOf(inbox[2]!, 'r2'), seqsOf(inbox[2]!, 'r3')], [[1], [2], [3]], 'C never watched: every room');
      for (const got of inbox) assert.equal(got.filter((m) => m.kind === 'disconnect').length, 1, 'disconnect orders reach every worker');
      assert.equal(c.services.relay.watchedRooms, 2);

      a.unwatch('r1');
      await b.publish(entry('r1', 4));
      await c.settled();
      assert.deepEqual(seqsOf(inbox[0]!, 'r1'), [1, 4], 'two watches, one unwatch: still watching');
      a.unwatch('r1');
      await c.settled(); // the unwatch reaches the primary before the next publish of another worker
      await b.publish(entry('r1', 5));
      await c.settled();
      assert.deepEqual(seqsOf(inbox[0]!, 'r1'), [1, 4], 'as many unwatches as watches: no more r1');
      assert.equal(c.services.relay.watchedRooms, 1);
    } finally {
      c.close();
    }
  });

  it('watch resolves once the primary has it: a message published after it arrives', async () => {
    const c = cluster(2);
    const [a, b] = c.clients.map((client) => new IpcBroker(client)) as [IpcBroker, IpcBroker];
    const got: BrokerMessage[] = [];
    await a.init();
    await b.init();
    a.onMessage((m) => got.push(m));
    try {
      await b.watch('other'); // B declares interest, so the relay filters for A too once A watches
      for (let i = 1; i <= 20; i++) {
        await a.watch(`room-${i}`);
        await b.publish(entry(`room-${i}`, i));
      }
      await c.settled();
      assert.deepEqual(
        got.map((m) => (m.kind === 'entry' ? m.entry.seq : 0)),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    } finally {
      c.close();
    }
  });

  it('a primary that does not answer: requests reject with PrimaryUnavailableError after their timeout', async () => {
    const c = cluster(1, { silentPrimary: true });
    try {
      await assert.rejects(c.clients[0]!.request({ op: 'hello' }, 100), PrimaryUnavailableError);
      c.clients[0]!.close();
      await assert.rejects(c.clients[0]!.request({ op: 'hello' }, 100), PrimaryUnavailableError);
    } finally {
      c.close();
    }
  });
});

describe('IPC requests and a busy worker', () => {
  it('an answer that came while the worker was busy past the deadline resolves its request: no false timeout', async () => {
    // A real primary process (answers every request at once, and says in a file when an answer
    // was written to the channel) and this process as its worker.
    const written = path.join(mkdtempSync(path.join(tmpdir(), 'sb-ipc-')), 'answered');
    const primary = fork('-e', [`process.on('message', (m) => { if (m && m.t === 'req') process.send({ sb: 1, t: 'res', id: m.id, ok: true, value: 'here' }, () => require('fs').appendFileSync(${JSON.stringify(written)}, 'x')); });`], { stdio: 'ignore' });
    await new Promise((resolve) => primary.once('spawn', resolve));
    const client = new PrimaryClient(nodePort<ToPrimary>(primary));
    try {
      assert.equal(await client.request({ op: 'hello' }, 5000), 'here', 'the primary answers');
      for (let i = 0; i < 500 && !existsSync(written); i++) await sleep(10);
      const asked = client.request({ op: 'hello' }, 100);
      // Busy (synchronously) once the request is out, past its deadline and until the answer is
      // in the channel (a second one: the first answer wrote once already).
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          const from = Date.now();
          while (Date.now() - from < 300 || (readFileSync(written, 'utf8').length < 2 && Date.now() - from < 10_000));
          resolve();
        }),
      );
      assert.equal(readFileSync(written, 'utf8').length, 2, 'the answer was written while this process was busy');
      // Before the fix: rejected, "did not answer hello within 100 ms", as the timers of a turn run before its I/O.
      assert.equal(await asked, 'here');
      // A primary that does not answer still times out.
      primary.kill('SIGSTOP');
      await assert.rejects(client.request({ op: 'hello' }, 100), PrimaryUnavailableError);
    } finally {
      client.close();
      primary.kill('SIGKILL');
      rmSync(path.dirname(written), { recursive: true, force: true });
    }
  });
});

describe('IPC relay: batches and bounds', () => {
  it("one IPC message per worker per turn each way, whatever the number of broker messages, in order", async () => {
    const c = cluster(3);
    const brokers = c.clients.map((client) => new IpcBroker(client));
    const inbox: BrokerMessage[][] = brokers.map(() => []);
    for (const [i, b] of brokers.entries()) {
      await b.init();
      b.onMessage((m) => inbox[i]!.push(m));
    }
    try {
      const [a] = brokers as [IpcBroker, IpcBroker, IpcBroker];
      await c.settled();
      const before = [...c.toPrimary, ...c.toWorker];
      for (let seq = 1; seq <= 200; seq++) void a.publish(entry('batch', seq));
      await c.settled();
      assert.deepEqual([...c.toPrimary, ...c.toWorker].map((n, i) => n - before[i]!), [1, 0, 0, 0, 1, 1], '200 publishes in one turn: one IPC message to the primary, one to each other worker');
      for (const got of inbox.slice(1)) assert.deepEqual(seqsOf(got, 'batch'), Array.from({ length: 200 }, (_, i) => i + 1), 'each other worker: all, in order');
      assert.deepEqual(seqsOf(inbox[0]!, 'batch').length, 200, 'the publisher got its own at once');
    } finally {
      c.close();
    }
  });

  it("a turn's presence calls, publishes and unwatch cross as one IPC message each way, answered each, in order", async () => {
    const c = cluster(2);
    const store = new IpcPresenceStore(c.clients[0]!);
    const [a, b] = c.clients.map((client) => new IpcBroker(client)) as [IpcBroker, IpcBroker];
    const got: BrokerMessage[] = [];
    await a.init();
    await b.init();
    b.onMessage((m) => got.push(m));
    try {
      await b.watch('r');
      await a.watch('r');
      await c.settled();
      const before = [...c.toPrimary, ...c.toWorker];
      const conn = (i: number) => ({ id: `c${i}`, member: `m${i % 25}`, name: `n${i % 25}`, transport: 'websocket' as const });
      const adds = Array.from({ length: 50 }, (_, i) => store.add('r', conn(i), Date.now() + 60_000));
      void a.publish(entry('r', 1));
      const listed = store.members('r', Date.now());
      void a.publish(entry('r', 2));
      a.unwatch('r');
      void a.publish(entry('r', 3));
      const firsts = await Promise.all(adds);
      assert.deepEqual(firsts, Array.from({ length: 50 }, (_, i) => (i < 25 ? 'arrived' : 'changed')), 'each call answered: the first connection of each member is its arrival');
      assert.equal((await listed).length, 25, 'a call queued after others in the turn sees what they did');
      await c.settled();
      assert.deepEqual([...c.toPrimary, ...c.toWorker].map((n, i) => n - before[i]!), [1, 0, 1, 1], '51 calls, 3 publishes, an unwatch: one message to the primary; the answers in one, the publishes in one to the other worker');
      assert.deepEqual(seqsOf(got, 'r'), [1, 2, 3], 'the other worker, watching, gets every publish in order');
    } finally {
      c.close();
    }
  });

  it('a worker that does not read its channel (SIGSTOP) stops being sent to past the bound; what it misses is counted and told', { timeout: 60_000 }, async () => {
    const child = fork('-e', ["process.on('message', () => {}); setInterval(() => {}, 1000);"], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    const drops: number[] = [];
    const relay = new Relay((worker, n) => drops.push(worker, n));
    relay.add(1, nodePort<ToWorker>(child));
    relay.add(2, { send() {}, onMessage: () => () => {}, connected: () => true });
    process.kill(child.pid!, 'SIGSTOP');
    try {
      const big = 'x'.repeat(4096);
      let turns = 0;
      while (relay.dropped === 0 && turns < 20_000) {
        relay.publish(2, [{ kind: 'entry', epoch: 'e', entry: { type: 'message', room: 'r', seq: ++turns, ts: 1, from: { id: 'c', name: 'n' }, text: big } }]);
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(relay.dropped > 0, `dropped after ${turns} turns`);
      assert.ok(turns >= MAX_WORKER_BACKLOG, `nothing dropped before the backlog reached ${MAX_WORKER_BACKLOG} (${turns})`);
      assert.deepEqual(drops.slice(0, 2), [1, 1], 'told which worker, and how many');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

/**
 * A worker's store (SqliteStore with `appendVia`): its appends written by the primary's store on
 * the same file, over the IPC protocol (a catalog error crossing as itself), its reads and room
 * writes its own. `reopen` is the store of another worker of the same primary.
 */
messageStoreContract('sqlite, appends written by the primary over IPC (--workers)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-ipc-store-'));
  const writer = new SqliteStore({ dataDir: dir, cachedRooms: 1, cachedEntries: 1 });
  await writer.init();
  const c = cluster(2, { store: writer });
  const workerStore = async (i: number): Promise<SqliteStore> => {
    const store = new SqliteStore({ dataDir: dir, trimBatchSize: 7, appendVia: (draft) => c.clients[i]!.request<AppendResult>({ op: 'append', draft }, 10_000) });
    await store.init();
    return store;
  };
  const stores = [await workerStore(0)];
  return {
    store: stores[0]!,
    appendsElsewhere: true,
    reopen: async () => {
      const store = await workerStore(1);
      stores.push(store);
      return store;
    },
    cleanup: async () => {
      for (const store of stores) await store.close();
      c.close();
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("a worker's store with appendVia", () => {
  it('appends nothing itself: the primary commits them, many workers\' appends in one transaction', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sb-ipc-append-'));
    const writer = new SqliteStore({ dataDir: dir });
    await writer.init();
    const c = cluster(2, { store: writer });
    const stores = await Promise.all(
      [0, 1].map(async (i) => {
        const store = new SqliteStore({ dataDir: dir, appendVia: (draft) => c.clients[i]!.request<AppendResult>({ op: 'append', draft }, 10_000) });
        await store.init();
        return store;
      }),
    );
    try {
      await stores[0]!.createRoom('r');
      const acks = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.append({ type: 'message', room: 'r', from: { id: `c${i % 2}`, name: 'n' }, text: `m${i}` })));
      assert.deepEqual(acks.map((a) => a.entry.seq).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
      assert.deepEqual(stores.map((s) => s.commitStats.items), [0, 0], 'the workers committed no append');
      const { commits, items } = writer.commitStats;
      assert.equal(items, 40);
      assert.ok(commits < 40, `${commits} commits for 40 appends of two workers`);
      assert.deepEqual((await stores[1]!.readAfter('r', 0, 100)).map((e) => e.seq), Array.from({ length: 40 }, (_, i) => i + 1), 'each worker reads them from the file');
    } finally {
      for (const store of stores) await store.close();
      c.close();
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shared limits: the workers of a node spend one budget, and hold one cap of connections, per client', () => {
  const rates = (burst: number, perSecond: number): Record<Budget, { perSecond: number; burst: number }> =>
    Object.fromEntries((['publish', 'typing', 'subscribe', 'create', 'rooms', 'connect', 'query', 'read', 'auth', 'tls', 'accessLog'] as Budget[]).map((b) => [b, { perSecond, burst }])) as Record<Budget, { perSecond: number; burst: number }>;
  /** A worker's Limits (burst 4, a token every 1000 s; at most `cap` connections per address and per member) sharing through the primary, as workers/worker.ts builds them. */
  const limitsOf = (client: PrimaryClient, cap = 11): Limits => new Limits({ rates: rates(4, 0.001), maxConnectionsPerAddress: cap, maxConnectionsPerMember: cap, peers: new SharedLimits(client) });
  /** Three workers' Limits. */
  function workers(cap?: number) {
    const c = cluster(3);
    return { c, limits: c.clients.map((client) => limitsOf(client, cap)) };
  }
  type Who = Parameters<Limits['openConnection']>[0];
  const ann = { kind: 'user', member: 'ann', address: '10.0.1.1' } as unknown as Who;
  const annElsewhere = { kind: 'user', member: 'ann', address: '10.0.1.2' } as unknown as Who;
  const guest = (address: string): Who => ({ kind: 'guest', address }) as unknown as Who;
  /** True when `l` refuses another connection of `p` (TOO_MANY_CONNECTIONS_FROM_YOU); else it is counted. */
  const full = (l: Limits, p: Who): boolean => {
    try {
      l.openConnection(p);
      return false;
    } catch (err) {
      assert.equal((err as SwitchboardError).code, 'TOO_MANY_CONNECTIONS_FROM_YOU');
      return true;
    }
  };
  const refused = (f: () => void): boolean => {
    try {
      f();
      return false;
    } catch (err) {
      assert.equal((err as SwitchboardError).code, 'RATE_LIMITED');
      return true;
    }
  };

  it("a client's takes on three workers: 4 in all pass (its burst), each worker refuses the next, and another client is untouched", async () => {
    const { c, limits } = workers();
    try {
      const passed = [0, 0, 0];
      // One at a time, the others told before the next (as requests one after another are).
      for (let i = 0; i < 9; i++) {
        if (!refused(() => limits[i % 3]!.take('publish', 'ip:10.0.0.1'))) passed[i % 3]!++;
        await c.settled();
      }
      assert.deepEqual(passed, [2, 1, 1], 'the burst of 4 spent over the three, then refused by each');
      // What it cost (switchboard_shared_limit_spends_total): each worker told its passes, none of its refusals, and heard the others'.
      assert.deepEqual(limits.map((l) => [l.peerTraffic.spendsTold, l.peerTraffic.spendsHeard]), [[2, 2], [1, 3], [1, 3]]);
      for (const l of limits) assert.ok(refused(() => l.take('publish', 'ip:10.0.0.1')));
      for (const l of limits) assert.ok(!refused(() => l.take('publish', 'ip:10.0.0.2')), 'another key has its own budget');
      for (const l of limits) assert.ok(!refused(() => l.take('subscribe', 'ip:10.0.0.1')), 'another budget of the same key is its own');
    } finally {
      c.close();
    }
  });

  it('a charge into debt on one worker is owed on the others (read), a turn\'s spends cross as one message, and refusals and the access log send nothing', async () => {
    const { c, limits } = workers();
    try {
      const member = { kind: 'user', member: 'ann', address: '10.0.0.3' } as Parameters<Limits['charge']>[1];
      limits[0]!.charge('read', member, 6);
      await c.settled();
      for (const l of limits.slice(1)) assert.ok(refused(() => l.refuseInDebt('read', member, 'read budget')), 'owed on the other workers too');
      const before = c.toPrimary[1]!;
      for (let i = 0; i < 4; i++) limits[1]!.take('connect', 'ip:10.0.0.11');
      limits[1]!.take('connect', 'ip:10.0.0.12');
      await c.settled();
      assert.equal(c.toPrimary[1]! - before, 1, "one turn's five spends: one message");
      const quiet = c.toPrimary[1]!;
      for (let i = 0; i < 20; i++) refused(() => limits[1]!.take('connect', 'ip:10.0.0.11'));
      await c.settled();
      assert.equal(c.toPrimary[1]!, quiet, 'the 20 refusals (its burst was spent) told nothing');
      for (let i = 0; i < 4; i++) limits[1]!.tryTake('accessLog', 'ip:10.0.0.20');
      await c.settled();
      assert.equal(c.toPrimary[1]!, quiet, 'nor did the access-log lines');
      assert.ok(limits[2]!.tryTake('accessLog', 'ip:10.0.0.20'), "the access log's budget is each worker's own");
    } finally {
      c.close();
    }
  });

  it("the caps of connections count the other workers' (from 2 on a worker, past a cap of 10), a new worker is told them, and those of a worker gone are forgotten", async () => {
    const { c, limits } = workers(11);
    try {
      // Ann: 5 connections on worker 1 (from one address), 5 on worker 2 (from another): 10 of her 11.
      for (let i = 0; i < 5; i++) limits[0]!.openConnection(ann);
      for (let i = 0; i < 5; i++) limits[1]!.openConnection(annElsewhere);
      await c.settled();
      // Her member's counts from 2 to 5 on each (her address's too on worker 1: one address there), heard by the others as one entry a key, its latest (switchboard_shared_limit_counts_total).
      assert.deepEqual(limits.map((l) => [l.peerTraffic.countsTold, l.peerTraffic.countsHeard]), [[8, 2], [8, 2], [0, 4]]);
      assert.equal(full(limits[2]!, ann), false, 'her 11th, on worker 3');
      assert.equal(full(limits[2]!, ann), true, 'her 12th is refused there: 5 + 5 + 1');
      limits[2]!.closeConnection(ann);
      // An address with one connection on each worker is told to no one (most clients: one each).
      await c.settled();
      const quiet = [...c.toPrimary];
      for (const l of limits) l.openConnection(guest('10.0.2.1'));
      await c.settled();
      assert.deepEqual(c.toPrimary, quiet, 'one connection per worker: nothing told');
      // A worker started later is told what the others hold.
      const fourth = limitsOf(c.add());
      await c.settled();
      assert.equal(full(fourth, ann), false, 'her 11th, on the new worker');
      assert.equal(full(fourth, ann), true, 'her 12th is refused there: 5 + 5 + 1');
      fourth.closeConnection(ann);
      // Worker 1 exits: its 5 no longer count.
      c.services.detach(1);
      await c.settled();
      for (let i = 0; i < 6; i++) assert.equal(full(limits[2]!, ann), false, `her connection ${i + 6} of 11, worker 1 gone`);
      assert.equal(full(limits[2]!, ann), true, 'her 12th: 5 on worker 2 + 6 on worker 3');
    } finally {
      c.close();
    }
  });

  it("the primary sends no counts to a worker whose channel is full, and all of them anew once it reads again", () => {
    const services = new PrimaryServices({ presence: new MemoryPresenceStore(), presenceKey: 'a2V5', metrics: async () => '' });
    const sent = new Map<number, ToWorker[]>();
    let full = false;
    for (const id of [1, 2, 3]) {
      sent.set(id, []);
      services.attach(id, { send: (m) => sent.get(id)!.push(m), onMessage: () => () => {}, connected: () => true, backlog: () => (id === 2 && full ? MAX_WORKER_BACKLOG : 0) });
    }
    const held = (id: number, counts: Held[]): void => services.receive(id, { sb: 1, t: 'held', counts } satisfies ToPrimary);
    held(1, [['member', 'ann', 3]]);
    held(3, [['member', 'bob', 2]]);
    assert.deepEqual(sent.get(2), [
      { sb: 1, t: 'held', from: 'w1', counts: [['member', 'ann', 3]] },
      { sb: 1, t: 'held', from: 'w3', counts: [['member', 'bob', 2]] },
    ]);
    sent.set(2, []);
    full = true;
    held(1, [['member', 'ann', 4]]);
    services.detach(3);
    services.receive(1, { sb: 1, t: 'spent', spends: [['publish', 'member:ann', 1]] } satisfies ToPrimary);
    assert.deepEqual(sent.get(2), [], 'nothing while its channel is full');
    assert.equal(services.spendsDropped, 1, 'the spend not passed on is counted (switchboard_primary_spends_dropped_total)');
    full = false;
    held(1, [['address', '10.0.0.1', 2]]);
    assert.deepEqual(sent.get(2), [
      { sb: 1, t: 'gone', from: '*' },
      { sb: 1, t: 'held', from: 'w1', counts: [['member', 'ann', 4], ['address', '10.0.0.1', 2]] },
    ], "everything forgotten, then every worker's counts (worker 3's gone)");
    // Missed again; made good by a spend this time: the counts anew, and the spend with them.
    sent.set(2, []);
    full = true;
    held(1, [['member', 'ann', 5]]);
    full = false;
    services.receive(1, { sb: 1, t: 'spent', spends: [['publish', 'member:ann', 2]] } satisfies ToPrimary);
    assert.deepEqual(sent.get(2), [
      { sb: 1, t: 'gone', from: '*' },
      { sb: 1, t: 'held', from: 'w1', counts: [['member', 'ann', 5], ['address', '10.0.0.1', 2]] },
      { sb: 1, t: 'spent', spends: [['publish', 'member:ann', 2]] },
    ], 'the counts anew, then the spend that came');
  });

  it("Limits forgets every peer's counts on a `gone` of `*`, and counts them again as they come", () => {
    let heard: ((peer: string, counts: readonly Held[]) => void) | undefined;
    let gone: ((peer: string) => void) | undefined;
    const peers: LimitPeers = { spent: () => {}, onSpent: () => {}, holds: () => {}, onHolds: (h, g) => ((heard = h), (gone = g)) };
    const l = new Limits({ rates: rates(4, 0.001), maxConnectionsPerAddress: 2, maxConnectionsPerMember: 2, peers });
    heard!('w1', [['member', 'ann', 1]]);
    heard!('w2', [['member', 'ann', 1]]);
    assert.equal(full(l, ann), true, '1 + 1 of her 2 elsewhere');
    gone!('*');
    assert.equal(full(l, ann), false, 'forgotten');
    heard!('w2', [['member', 'ann', 1]]);
    assert.equal(full(l, ann), true, '1 here + 1 told again');
  });

  it('a cap of 10 or less counts every connection of the other workers: one connection per member holds for the machine', async () => {
    const { c, limits } = workers(1);
    try {
      limits[0]!.openConnection(ann);
      await c.settled();
      assert.equal(full(limits[1]!, annElsewhere), true, 'her second, on worker 2');
      assert.equal(full(limits[2]!, annElsewhere), true, 'and on worker 3');
      limits[0]!.closeConnection(ann);
      await c.settled();
      assert.equal(full(limits[1]!, annElsewhere), false, 'once the first closed, one on another worker');
    } finally {
      c.close();
    }
  });
});
