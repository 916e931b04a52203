/**
 * `npm run bench:workers-load`: what workers cost and give. For each entry of --workers (`1,2`;
 * `none` runs the server without the flag), starts Switchboard with `--workers N` and
 * --server-args, connects --clients WebSocket subscribers to one room (the port is shared: the
 * workers take the connections between them), then:
 *  1. throughput: --burst messages published as fast as they are acknowledged (--window in
 *     flight): deliveries per second (first publish to last delivery) and server CPU (every
 *     process of the tree) per 1,000 deliveries;
 *  2. latency at a steady --rate per second for 5 s, publish to delivery, p50/p99. With N
 *     workers a publish lands on one worker and (N-1)/N of the subscribers are on the others,
 *     so the change from 1 worker to 2 is what crossing workers costs.
 * Every delivery is checked (nothing lost or doubled, in order).
 *
 *   npm run bench:workers-load -- --workers 1,2 --clients 2000
 */
import { parseArgs } from 'node:util';
import { LoadCoordinator } from './load/load-coordinator.js';
import { Publisher, createRooms } from './load/publisher.js';
import { describeYardstick, measureYardstick } from './load/yardstick.js';
import { saveResult } from './load/results.js';
import { ServerUnderTest, loadFriendlyArgs, workersOf } from './load/server-under-test.js';
import { describe, distribution, type Distribution } from './load/stats.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    clients: { type: 'string', default: '2000' },
    burst: { type: 'string', default: '200' },
    window: { type: 'string', default: '20' },
    rate: { type: 'string', default: '50' },
    'server-args': { type: 'string', default: '' },
    'per-process': { type: 'string', default: '15000' },
    'drain-ms': { type: 'string', default: '3000' },
    label: { type: 'string', default: '' },
  },
});

export interface WorkersRow {
  workers: string;
  serverCommand: string;
  processes: number;
  clients: number;
  deliveries: number;
  deliveriesPerSecond: number;
  cpuMsPer1000: number;
  latency: Distribution;
  complete: number;
  lost: number;
  doubled: number;
  outOfOrder: number;
  refused?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const clients = Number(values.clients);

async function runOne(workers: string): Promise<WorkersRow> {
  const args = [...loadFriendlyArgs(clients), ...(workers === 'none' ? [] : ['--workers', workers]), ...values['server-args'].split(/\s+/).filter(Boolean)];
  const empty = { serverCommand: '', processes: 0, clients, deliveries: 0, deliveriesPerSecond: Number.NaN, cpuMsPer1000: Number.NaN, latency: distribution([]), complete: 0, lost: 0, doubled: 0, outOfOrder: 0 };
  let server: ServerUnderTest;
  try {
    server = await ServerUnderTest.switchboard(args);
  } catch (err) {
    return { workers, ...empty, refused: (err as Error).message.split('\n')[0]! };
  }
  if (workers !== 'none' && Number(workers) > 1 && workersOf(server).length === 0) {
    await server.stop();
    return { workers, ...empty, refused: `--workers ${workers}: the server runs as one process (no workers)` };
  }
  let load: LoadCoordinator | undefined;
  try {
    await createRooms(server.baseUrl, ['bench']);
    const c = await LoadCoordinator.connect({ baseUrl: server.baseUrl, counts: { websocket: clients }, rooms: ['bench'], perProcess: Number(values['per-process']) });
    load = c.load;
    await sleep(2000);
    const pids = server.pids();
    const publisher = new Publisher(server.baseUrl);
    // 1. Throughput.
    const burst = Number(values.burst);
    const cpu0 = server.cpuMs(pids);
    const t0 = performance.timeOrigin + performance.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: Number(values.window) }, async () => {
        while (sent < burst) {
          sent++;
          await publisher.publish('bench');
        }
      }),
    );
    await sleep(Number(values['drain-ms']));
    const afterBurst = await load.check(publisher.expected());
    const ws = afterBurst.get('websocket')!;
    // The drain wait after the burst is counted too: an idle server uses next to nothing then.
    const cpuMs = server.cpuMs(pids) - cpu0;
    const deliveriesPerSecond = ws.deliveries / ((ws.lastDeliveryAt - t0) / 1000);
    // 2. Latency at a steady rate.
    const rate = Number(values.rate);
    const start = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < rate * 5; i++) {
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(publisher.publish('bench'));
    }
    await Promise.all(pending);
    await sleep(Number(values['drain-ms']));
    const final = (await load.check(publisher.expected())).get('websocket')!;
    publisher.close();
    const steady = final.latencyMs.subarray(ws.latencyMs.length);
    return {
      workers,
      serverCommand: server.commandLine,
      processes: pids.length,
      clients,
      deliveries: ws.deliveries,
      deliveriesPerSecond,
      cpuMsPer1000: cpuMs / (ws.deliveries / 1000),
      latency: distribution(steady),
      complete: final.complete,
      lost: final.lost,
      doubled: final.doubled,
      outOfOrder: final.outOfOrder,
    };
  } finally {
    await load?.close();
    await server.stop();
  }
}

console.log(`Workers: ${clients} WebSocket subscribers in one room; a burst of ${values.burst} (${values.window} in flight), then ${values.rate} msg/s for 5 s; server args "${values['server-args']}"`);
console.log(describeYardstick(await measureYardstick()));
const rows: WorkersRow[] = [];
for (const w of values.workers.split(',')) {
  const row = await runOne(w);
  rows.push(row);
  if (row.refused) {
    console.log(`  workers ${w}: REFUSED: ${row.refused}`);
    continue;
  }
  console.log(
    `  workers ${w} (${row.processes} processes): ${row.deliveriesPerSecond.toFixed(0)} deliveries/s, ${row.cpuMsPer1000.toFixed(2)} ms CPU per 1000 deliveries; at ${values.rate} msg/s ${describe(row.latency)}; ${row.complete}/${row.clients} complete (lost ${row.lost}, doubled ${row.doubled}, out of order ${row.outOfOrder})`,
  );
}
saveResult('workers-load', values.label || `${clients}`, { clients, burst: Number(values.burst), rate: Number(values.rate), rows });
process.exit(rows.some((r) => r.refused) ? 2 : 0);
