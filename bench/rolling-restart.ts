/**
 * `npm run bench:rolling-restart`: a rolling restart under load. Needs a server with workers
 * (`--workers N`, SIGHUP to the primary replaces the workers).
 *
 * Starts Switchboard with --server-args (default `--workers 2`), connects --clients clients
 * spread evenly over the four transports (WebSocket, SSE, long polling, short polling every
 * second; `--kinds websocket,sse` for some of them only) in one room; each comes back after a close (about 200 ms later, from its cursor).
 * Publishes at --rate per second for --seconds over HTTP (a failed publish is retried with the
 * same clientId); a third of the way in, sends SIGHUP to the primary and waits until every
 * worker it had is gone. Then checks: messages lost (target 0), clients that never came back
 * (target 0), reconnect p50/p99, how long the restart took, and how the clients' connections
 * are spread over the workers before and after it.
 *
 * It refuses, before connecting anyone, when the server does not start or runs as one process:
 * today's server has no workers.
 *
 *   npm run bench:rolling-restart -- --clients 5000 --server-args="--workers 2"
 */
import { parseArgs } from 'node:util';
import { LoadCoordinator } from './load/load-coordinator.js';
import type { ClientKind } from './load/messages.js';
import { Publisher, createRooms } from './load/publisher.js';
import { describeYardstick, measureYardstick } from './load/yardstick.js';
import { saveResult } from './load/results.js';
import { socketsOn } from './load/proc-stats.js';
import { ServerUnderTest, loadFriendlyArgs, workersOf } from './load/server-under-test.js';
import { describe, distribution, type Distribution } from './load/stats.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '5000' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '45' },
    'server-args': { type: 'string', default: '--workers 2' },
    'per-process': { type: 'string', default: '15000' },
    concurrency: { type: 'string', default: '100' },
    /** After the last publish, the most to wait for every client to have everything (a starved machine needs longer). */
    'drain-ms': { type: 'string', default: '60000' },
    /** The transports the clients use, spread evenly (default all four). */
    kinds: { type: 'string', default: 'websocket,sse,long-polling,polling' },
    label: { type: 'string', default: '' },
  },
});

export interface RollingRestartResult {
  serverCommand: string;
  clients: number;
  connected: number;
  workersBefore: number[];
  workersAfter: number[];
  /** Established connections held by each worker once every client connected, and after the restart once every client had everything (the same order as the workers). */
  spreadBefore: number[];
  spreadAfter: number[];
  restartSeconds: number;
  messages: number;
  publishRetries: number;
  publishRetryReasons: Record<string, number>;
  publishFailures: number;
  /** Messages a client missed while it received later ones. */
  lost: number;
  /** Messages after the last one a client received, when the run ended (still catching up, or down). */
  behind: number;
  /** Seconds from the last publish until every client had everything (or --drain-ms). */
  settledSeconds: number;
  doubled: number;
  outOfOrder: number;
  /** Deliveries of messages whose ack the publisher never got (stored, ack lost): not losses. */
  unacknowledgedDelivered: number;
  neverBack: number;
  reconnect: Distribution;
  kinds: { kind: ClientKind; clients: number; complete: number; lost: number; behind: number; down: number; reconnect: Distribution; errors: Record<string, number> }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const clients = Number(values.clients);
const ALL_KINDS: readonly ClientKind[] = ['websocket', 'sse', 'long-polling', 'polling'];
const kinds = values.kinds.split(',').filter(Boolean) as ClientKind[];
const unknownKind = kinds.find((k) => !ALL_KINDS.includes(k));
if (unknownKind !== undefined || kinds.length === 0) {
  console.log(`--kinds: expected some of ${ALL_KINDS.join(',')}, got "${values.kinds}"`);
  process.exit(2);
}
const counts = Object.fromEntries(kinds.map((k, i) => [k, Math.floor(clients / kinds.length) + (i < clients % kinds.length ? 1 : 0)])) as Record<ClientKind, number>;
console.log(`Rolling restart: ${clients} clients (${kinds.map((k) => `${counts[k]} ${k}`).join(', ')}), ${values.rate} msg/s for ${values.seconds} s, server args "${values['server-args']}"`);
console.log(describeYardstick(await measureYardstick()));

let server: ServerUnderTest;
try {
  server = await ServerUnderTest.switchboard([...loadFriendlyArgs(clients), ...values['server-args'].split(/\s+/).filter(Boolean)]);
} catch (err) {
  console.log(`REFUSED: the server did not start with "${values['server-args']}", so there is nothing to restart.\n  ${(err as Error).message}`);
  process.exit(2);
}
const workersBefore = workersOf(server);
if (workersBefore.length === 0) {
  await server.stop();
  console.log(`REFUSED: the server runs as one process (no worker under pid ${server.child.pid}): a rolling restart needs a primary and its workers (--workers N).`);
  process.exit(2);
}
let load: LoadCoordinator | undefined;
try {
  await createRooms(server.baseUrl, ['bench']);
  const c = await LoadCoordinator.connect({ baseUrl: server.baseUrl, counts, rooms: ['bench'], perProcess: Number(values['per-process']), concurrency: Number(values.concurrency), reconnectMs: 200 });
  load = c.load;
  const port = Number(new URL(server.baseUrl).port);
  const spreadBefore = socketsOn(port, workersBefore);
  console.log(`  ${clients - c.summary.failed}/${clients} connected in ${((c.summary.lastConnected - c.summary.firstStart) / 1000).toFixed(1)} s; ${workersBefore.length} workers (${workersBefore.join(', ')}), holding ${spreadBefore.join(', ')} connections`);
  const publisher = new Publisher(server.baseUrl, 'switchboard', 60_000);
  const total = Number(values.rate) * Number(values.seconds);
  const interval = 1000 / Number(values.rate);
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  let restart: Promise<number> | undefined;
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(publisher.publish('bench'));
    if (i === Math.floor(total / 3)) {
      console.log('  SIGHUP to the primary');
      restart = (async () => {
        const t0 = performance.now();
        server.signal('SIGHUP');
        while (workersOf(server).some((pid) => workersBefore.includes(pid))) {
          if (performance.now() - t0 > 120_000) throw new Error('the old workers were still there 120 s after SIGHUP');
          await sleep(100);
        }
        return (performance.now() - t0) / 1000;
      })();
    }
  }
  await Promise.all(pending);
  const restartSeconds = restart ? await restart : Number.NaN;
  const workersAfter = workersOf(server);
  const settled = await load.settle(publisher.expected(), Number(values['drain-ms']));
  const merged = await load.check(publisher.expected());
  const spreadAfter = socketsOn(port, workersAfter);
  publisher.close();
  const all = [...merged.values()];
  const result: RollingRestartResult = {
    serverCommand: server.commandLine,
    clients,
    connected: clients - c.summary.failed,
    workersBefore,
    workersAfter,
    spreadBefore,
    spreadAfter,
    restartSeconds,
    messages: publisher.acked.get('bench')?.length ?? 0,
    publishRetries: publisher.retries,
    publishRetryReasons: Object.fromEntries(publisher.retryReasons),
    publishFailures: publisher.failures,
    lost: all.reduce((a, k) => a + k.lost, 0),
    behind: all.reduce((a, k) => a + k.behind, 0),
    settledSeconds: settled.waitedMs / 1000,
    doubled: all.reduce((a, k) => a + k.doubled, 0),
    outOfOrder: all.reduce((a, k) => a + k.outOfOrder, 0),
    unacknowledgedDelivered: all.reduce((a, k) => a + k.unacknowledged, 0),
    neverBack: all.reduce((a, k) => a + k.down, 0),
    reconnect: distribution(all.flatMap((k) => [...k.reconnectMs])),
    kinds: all.map((k) => ({ kind: k.kind, clients: k.clients, complete: k.complete, lost: k.lost, behind: k.behind, down: k.down, reconnect: distribution(k.reconnectMs), errors: k.errors })),
  };
  console.log(`  restart took ${restartSeconds.toFixed(1)} s; workers now ${workersAfter.join(', ')}, holding ${spreadAfter.join(', ')} connections`);
  console.log(`  ${result.messages} messages acknowledged (${result.publishRetries} retries ${JSON.stringify(result.publishRetryReasons)}, ${result.publishFailures} never acknowledged); lost ${result.lost}, behind ${result.behind} (${settled.behind === 0 ? `every client had everything ${result.settledSeconds.toFixed(1)} s after the last publish` : `${settled.behind} clients still behind ${result.settledSeconds.toFixed(1)} s after the last publish: --drain-ms`}), doubled ${result.doubled}, out of order ${result.outOfOrder}; deliveries of unacknowledged messages ${result.unacknowledgedDelivered}; clients never back ${result.neverBack}`);
  console.log(`  reconnect ${describe(result.reconnect)}`);
  for (const k of result.kinds) console.log(`    ${k.kind.padEnd(13)} ${k.complete}/${k.clients} complete, lost ${k.lost}, behind ${k.behind}, down ${k.down}, reconnect ${describe(k.reconnect)} ${JSON.stringify(k.errors)}`);
  for (const k of all) for (const sample of k.samples) console.log(`      ${sample}`);
  saveResult('rolling-restart', values.label || `${clients}`, result);
} finally {
  await load?.close();
  await server.stop();
}
process.exit(0);
