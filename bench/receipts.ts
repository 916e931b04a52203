/**
 * `npx tsx bench/receipts.ts [server script...]` (after `npm run build`): what members' read
 * receipts cost a server. BENCH_MEMBERS (a list, default `100,300`) SDK clients over WebSocket
 * in room `bench`, each marking every message it gets as read (the SDK sends one position a
 * second at most), while BENCH_RATE (5) messages a second are published for BENCH_SECONDS (8);
 * every member is told each other member's position (a `receipt` notice). Prints the receipts
 * each client got a second, the messages, and the server's CPU (user and system, /proc).
 *
 * Each argument is a server script (default `../costs/switchboard-built-server.mjs`, the built
 * server; the path of a copy of an older build's, to compare): run in turn, size by size. The
 * clients run in this process, so at some hundreds of members they are the bottleneck (messages
 * a second fall below BENCH_RATE): read the server's CPU, not the rates, then.
 */
import { readFileSync } from 'node:fs';
import { connect } from '../src/client/index.js';
import type { Client } from '../src/client/index.js';
import { ServerProcess, sleep } from './lib.js';

const MEMBERS = (process.env.BENCH_MEMBERS ?? '100,300').split(',').map(Number);
const RATE = Number(process.env.BENCH_RATE ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const scripts = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['../costs/switchboard-built-server.mjs'];

/** User and system CPU of a process so far, in ms (/proc/<pid>/stat, 10 ms ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function run(script: string, members: number): Promise<string> {
  const server = await ServerProcess.start(script);
  const url = `http://127.0.0.1:${server.port}`;
  const clients: Client[] = [];
  let receipts = 0;
  let messages = 0;
  try {
    for (let i = 0; i < members; i++) {
      const client = await connect({ url, room: 'bench', name: `M${i}`, member: `m${i}`, transport: 'websocket' });
      client.on('message', (m) => {
        messages++;
        void client.markRead(m.seq).catch(() => {});
      });
      client.on('receipt', () => receipts++);
      clients.push(client);
    }
    await sleep(2000);
    receipts = 0;
    messages = 0;
    const pid = server.child.pid!;
    const cpu = cpuMs(pid);
    const started = performance.now();
    for (let i = 0; i < RATE * SECONDS; i++) {
      await fetch(`${url}/api/rooms/bench/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `m${i}` }) });
      await sleep(started + ((i + 1) * 1000) / RATE - performance.now());
    }
    const seconds = (performance.now() - started) / 1000;
    const used = cpuMs(pid) - cpu;
    return `receipts ${(receipts / members / seconds).toFixed(0).padStart(4)}/s a client   messages ${(messages / members / seconds).toFixed(1)}/s a client   server CPU ${((used / seconds / 1000) * 100).toFixed(0).padStart(3)}% of a core`;
  } finally {
    for (const c of clients) await c.close();
    await server.stop();
  }
}

console.log(`Read receipts: members over WebSocket in one room, each marking what it gets as read; ${RATE} messages/s for ${SECONDS} s`);
for (const members of MEMBERS) {
  for (const script of scripts) console.log(`  ${String(members).padStart(4)} members  ${script.padEnd(44)} ${await run(script, members)}`);
}
