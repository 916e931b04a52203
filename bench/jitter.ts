/**
 * `npm run bench:jitter`: the shape of AnyCable's public Node benchmark, Switchboard and
 * Socket.IO 4.8 (connection state recovery on) side by side in one run.
 *
 * --clients WebSocket clients in one room get --messages messages published at --rate per
 * second (HTTP publishes, `t:<time>` texts); every client cuts its own connection (TCP reset,
 * no close handshake) about every --cut-every-ms and stays away about --away-ms (both uniform
 * in 0.5x..1.5x), then reconnects and resumes: Switchboard's client subscribes again with the
 * cursor of the last entry it got (docs/protocol.md), Socket.IO's sends its pid and offset
 * (connection state recovery). After the last publish the cuts stop, the clients away come back
 * when their time away ends (not all at once: a herd the cut plan never makes), and each
 * client's deliveries are checked. Reported: % delivered, exactly once and in order, the
 * replay latency (publish to delivery of messages published while their client was away) and,
 * for the same messages, the catch-up: from the client's return (the end of its time away, when it
 * starts to reconnect) to delivery, which leaves out the time away that no server can shorten.
 *
 * Also printed: the CPU of the server's processes and of the load generator's over the run
 * (Switchboard's clients are the bench's own on bare sockets, Socket.IO's are socket.io-client:
 * what each fleet costs the machine the server shares).
 *
 *   npm run bench:jitter -- --clients 10000
 *
 * Both servers run as one process by default; `--server-args="--workers 2"` runs Switchboard's
 * with workers (on two cores shared with the clients they cost more than they give here:
 * docs/operations.md, "Workers").
 */
import { parseArgs } from 'node:util';
import { LoadCoordinator } from './load/load-coordinator.js';
import { cpuMsOf } from './load/proc-stats.js';
import type { ClientKind } from './load/messages.js';
import { Publisher, createRooms } from './load/publisher.js';
import { describeYardstick, measureYardstick } from './load/yardstick.js';
import { saveResult } from './load/results.js';
import { ServerUnderTest, loadFriendlyArgs } from './load/server-under-test.js';
import { describe, distribution, type Distribution } from './load/stats.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    messages: { type: 'string', default: '120' },
    rate: { type: 'string', default: '2' },
    'cut-every-ms': { type: 'string', default: '15000' },
    'away-ms': { type: 'string', default: '2000' },
    servers: { type: 'string', default: 'switchboard,socket.io' },
    'server-args': { type: 'string', default: '' },
    'per-process': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '100' },
    /** After the last publish, the most to wait for every client to have everything. */
    'drain-ms': { type: 'string', default: '30000' },
    label: { type: 'string', default: '' },
  },
});

export interface JitterRow {
  server: string;
  serverCommand: string;
  clients: number;
  connected: number;
  messages: number;
  cuts: number;
  deliveredPercent: number;
  exactlyOnce: boolean;
  complete: number;
  lost: number;
  /** Messages after a client's last one when the run ended (see DeliveryCheck). */
  behind: number;
  doubled: number;
  outOfOrder: number;
  down: number;
  latency: Distribution;
  replay: Distribution;
  /** The same messages, from the client's return (the end of its time away) to delivery: what the server's resume costs. Absent in results written before it was recorded. */
  catchUp?: Distribution;
  reconnect: Distribution;
  /**
   * CPU seconds from the first cut to the last delivery checked, of the server's processes and of
   * the load generator's (its clients are Switchboard's bench clients on bare sockets, or
   * socket.io-client for Socket.IO: what each fleet costs the machine the two share). Absent in
   * results written before it was recorded.
   */
  cpuSeconds?: { server: number; load: number };
  errors: Record<string, number>;
  samples: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runOne(serverName: string): Promise<JitterRow> {
  const clients = Number(values.clients);
  const sio = serverName === 'socket.io';
  const server = sio
    ? await ServerUnderTest.script('socket-io-recovery-server.mjs')
    : await ServerUnderTest.switchboard([...loadFriendlyArgs(clients), ...values['server-args'].split(/\s+/).filter(Boolean)]);
  let load: LoadCoordinator | undefined;
  try {
    if (!sio) await createRooms(server.baseUrl, ['bench']);
    const kind: ClientKind = sio ? 'sio' : 'websocket';
    console.log(`  ${serverName}: connecting ${clients} clients...`);
    const c = await LoadCoordinator.connect({
      baseUrl: server.baseUrl,
      counts: { [kind]: clients },
      rooms: ['bench'],
      perProcess: Number(values['per-process']),
      concurrency: Number(values.concurrency),
      reconnectMs: 1000,
      cut: { everyMs: Number(values['cut-every-ms']), awayMs: Number(values['away-ms']) },
    });
    load = c.load;
    console.log(`    ${clients - c.summary.failed}/${clients} connected in ${((c.summary.lastConnected - c.summary.firstStart) / 1000).toFixed(1)} s; publishing ${values.messages} at ${values.rate}/s with cuts`);
    const serverPids = server.pids();
    const loadPids = load.pids();
    const serverCpu0 = server.cpuMs(serverPids);
    const loadCpu0 = cpuMsOf(loadPids);
    load.jitter();
    const publisher = new Publisher(server.baseUrl, sio ? 'socket.io' : 'switchboard');
    const messages = Number(values.messages);
    const interval = 1000 / Number(values.rate);
    const start = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < messages; i++) {
      const wait = start + i * interval - performance.now();
      if (wait > 0) await sleep(wait);
      pending.push(publisher.publish('bench'));
    }
    await Promise.all(pending);
    load.calm();
    await load.settle(publisher.expected(), Number(values['drain-ms']));
    const cpuSeconds = { server: (server.cpuMs(serverPids) - serverCpu0) / 1000, load: (cpuMsOf(loadPids) - loadCpu0) / 1000 };
    const merged = await load.check(publisher.expected());
    const acked = publisher.acked.get('bench')?.length ?? 0;
    publisher.close();
    const r = merged.get(kind)!;
    const expectedDeliveries = acked * r.clients;
    return {
      server: sio ? 'Socket.IO 4.8 (connection state recovery)' : 'Switchboard',
      serverCommand: server.commandLine,
      clients: r.clients,
      connected: clients - c.summary.failed,
      messages: acked,
      cuts: r.cuts,
      deliveredPercent: expectedDeliveries === 0 ? 0 : ((expectedDeliveries - r.lost - r.behind) / expectedDeliveries) * 100,
      exactlyOnce: r.doubled === 0 && r.outOfOrder === 0,
      complete: r.complete,
      lost: r.lost,
      behind: r.behind,
      doubled: r.doubled,
      outOfOrder: r.outOfOrder,
      down: r.down,
      latency: distribution(r.latencyMs),
      replay: distribution(r.replayMs),
      catchUp: distribution(r.catchUpMs),
      reconnect: distribution(r.reconnectMs),
      cpuSeconds,
      errors: r.errors,
      samples: r.samples,
    };
  } finally {
    await load?.close();
    await server.stop();
  }
}

console.log(`Jitter: ${values.clients} WebSocket clients, ${values.messages} messages at ${values.rate}/s, a cut about every ${values['cut-every-ms']} ms, away about ${values['away-ms']} ms`);
console.log(describeYardstick(await measureYardstick()));
const rows: JitterRow[] = [];
for (const name of values.servers.split(',')) {
  const row = await runOne(name);
  rows.push(row);
  console.log(`  ${row.server}: ${row.deliveredPercent.toFixed(3)}% delivered, ${row.exactlyOnce ? 'exactly once, in order' : `NOT exactly once (doubled ${row.doubled}, out of order ${row.outOfOrder})`}, ${row.complete}/${row.clients} clients complete, ${row.cuts} cuts, ${row.down} down at the end`);
  console.log(`    replay (from publish) ${describe(row.replay)}`);
  if (row.catchUp) console.log(`    catch-up (from the client's return) ${describe(row.catchUp)}`);
  console.log(`    all deliveries ${describe(row.latency)}; reconnect ${describe(row.reconnect)}`);
  if (row.cpuSeconds) console.log(`    CPU from the first cut to the last delivery: server ${row.cpuSeconds.server.toFixed(1)} s, load generator ${row.cpuSeconds.load.toFixed(1)} s (${row.server === 'Switchboard' ? 'bare-socket clients' : 'socket.io-client'})`);
  if (Object.keys(row.errors).length) console.log(`    errors: ${JSON.stringify(row.errors)}`);
  for (const s of row.samples) console.log(`    ${s}`);
}
saveResult('jitter', values.label || `${values.clients}`, { clients: Number(values.clients), messages: Number(values.messages), rate: Number(values.rate), cutEveryMs: Number(values['cut-every-ms']), awayMs: Number(values['away-ms']), rows });
process.exit(0);
