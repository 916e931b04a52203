/**
 * `npm run bench:heartbeat`: what the periodic work of many idle WebSockets (the server's pings
 * and their pongs) does to everybody else's latency. --clients idle WebSockets (from the load
 * generator's processes) on one server process pinged every --heartbeat-ms; a probe client, in
 * this process, sends a protocol `ping` every 5 ms for --seconds and reports the round trips:
 * a heartbeat that pings every socket at once holds the event loop, and the probe's answer,
 * for the whole wave once per interval.
 *
 *   npm run bench:heartbeat -- --clients 15000 --heartbeat-ms 5000 --seconds 12
 *
 * BENCH_SERVER_CLI runs another build (another checkout's dist/src/cli/index.js) to compare.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { LoadCoordinator } from './load/load-coordinator.js';
import { createRooms } from './load/publisher.js';
import { ServerUnderTest, loadFriendlyArgs } from './load/server-under-test.js';
import { describe, distribution } from './load/stats.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '15000' },
    'heartbeat-ms': { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '12' },
  },
});
const clients = Number(values.clients);
const seconds = Number(values.seconds);
if (clients > 18_000) throw new Error('one server process holds under 20,000 open files: at most 18,000 clients');

const server = await ServerUnderTest.switchboard([...loadFriendlyArgs(clients), '--store', 'memory', '--heartbeat-ms', values['heartbeat-ms']]);
let load: LoadCoordinator | undefined;
try {
  await createRooms(server.baseUrl, ['hb']);
  console.log(`Heartbeat: ${clients} idle WebSockets pinged every ${values['heartbeat-ms']} ms; a probe's round trips over ${seconds} s (${server.commandLine})`);
  load = (await LoadCoordinator.connect({ baseUrl: server.baseUrl, counts: { websocket: clients }, rooms: ['hb'] })).load;
  const probe = new WebSocket(`${server.baseUrl.replace(/^http/, 'ws')}/api/ws?name=probe`);
  await new Promise((resolve, reject) => probe.once('open', resolve).once('error', reject));
  const sent = new Map<string, number>();
  const rtts: number[] = [];
  probe.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString()) as { type: string; id?: string };
    if (f.type === 'pong' && f.id !== undefined) rtts.push(performance.now() - sent.get(f.id)!);
  });
  const cpu0 = server.cpuMs(server.pids());
  let id = 0;
  const timer = setInterval(() => {
    const key = String(id++);
    sent.set(key, performance.now());
    probe.send(JSON.stringify({ type: 'ping', id: key }));
  }, 5);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  const cpuPercent = ((server.cpuMs(server.pids()) - cpu0) / (seconds * 1000)) * 100;
  const d = distribution(rtts);
  console.log(`  probe round trip: ${describe(d)}; p99.9 ${(Float64Array.from(rtts).sort()[Math.floor(0.999 * rtts.length)] ?? Number.NaN).toFixed(1)} ms; answered ${rtts.length}/${id}`);
  console.log(`  server CPU ${cpuPercent.toFixed(1)}% of a core (the pings and pongs of ${clients} sockets, the probe's traffic)`);
  probe.terminate();
} finally {
  await load?.close();
  await server.stop();
}
process.exit(0);
