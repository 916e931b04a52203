/**
 * `npx tsx bench/workers.ts`: what `--workers 2` costs (built CLI; run `npm run build` first).
 *
 *  1. Idle memory: RSS of the primary and of each worker (from /proc), a few seconds after start.
 *  2. The cost of a message crossing workers: one WebSocket publisher on worker A, one WebSocket
 *     subscriber on A and one on B; MESSAGES publishes at RATE per second; latency from the
 *     publish to its arrival, p50 and p99, on the publisher's worker and across (through the
 *     primary's relay). Both subscribers are timed by the same clock, in this process; the
 *     crossing itself is the difference between the two arrivals of each message; and the
 *     primary's CPU time over the run, per 1000 messages relayed.
 *
 * Environment: BENCH_MESSAGES (1000), BENCH_RATE (100). Timings are indicative on a busy machine:
 * compare the two columns of one run.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { WorkersProcess } from '../test/fixtures/workers-process.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1000);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

/** CPU time (user + system) of process `pid` so far, in ms (from /proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A native WebSocket client subscribed to `room`; `onEntry` gets each message's text. */
async function client(url: string, room: string, onText: (text: string) => void): Promise<{ ws: WebSocket; connectionId: string }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/ws`);
  let connectionId = '';
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; text?: string; connectionId?: string; id?: string };
      if (f.type === 'welcome') connectionId = f.connectionId!;
      else if (f.type === 'subscribed') resolve();
      else if (f.type === 'message') onText(f.text!);
    });
    ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', id: 's', room, create: true })));
    ws.once('error', reject);
  });
  return { ws, connectionId };
}

const dataDir = await mkdtemp(join(tmpdir(), 'sb-bench-workers-'));
const server = await WorkersProcess.start(['--workers', '2', '--data-dir', dataDir, '--rate-limit', '1000000', '--rate-burst', '1000000', '--connect-rate', '100000']);
try {
  const primary = await server.waitForLog((l) => l.role === 'primary' && typeof l.msg === 'string' && l.msg.startsWith('Switchboard listening'));
  const pids = primary.pids as number[];
  await sleep(1000);
  const idleCpu = cpuMs(server.child.pid!);
  await sleep(3000);
  console.log(`primary CPU at idle: ${((cpuMs(server.child.pid!) - idleCpu) / 3).toFixed(0)} ms per second`);
  console.log(`idle RSS: primary ${rssMb(server.child.pid!).toFixed(1)} MB; workers ${pids.map((p) => `${rssMb(p).toFixed(1)} MB`).join(', ')}`);

  const room = 'bench';
  const sent = new Map<string, number>();
  const lat = { same: [] as number[], other: [] as number[] };
  /** When each message reached each subscriber: the crossing is the difference (negative when the other worker was first). */
  const arrived = { same: new Map<string, number>(), other: new Map<string, number>() };
  const timer = (into: number[]) => (text: string) => {
    const now = performance.now();
    const t = sent.get(text);
    if (t !== undefined) into.push(now - t);
    (into === lat.same ? arrived.same : arrived.other).set(text, now);
  };
  const publisher = await client(server.url, room, () => {});
  const nodeA = await server.nodeOfWebSocket(publisher.connectionId);
  // Connections alternate between workers: keep one subscriber on A and one on B.
  let same: Awaited<ReturnType<typeof client>> | undefined;
  let other: Awaited<ReturnType<typeof client>> | undefined;
  const spare: WebSocket[] = [];
  while (!same || !other) {
    const c = await client(server.url, room, () => {});
    const onA = (await server.nodeOfWebSocket(c.connectionId)) === nodeA;
    if (onA && !same) same = c;
    else if (!onA && !other) other = c;
    else spare.push(c.ws);
  }
  for (const [c, into] of [[same, lat.same], [other, lat.other]] as const) {
    c.ws.removeAllListeners('message');
    c.ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; text?: string };
      if (f.type === 'message') timer(into)(f.text!);
    });
  }
  const primaryCpuBefore = cpuMs(server.child.pid!);
  for (let i = 0; i < MESSAGES; i++) {
    const text = `m${i}`;
    sent.set(text, performance.now());
    publisher.ws.send(JSON.stringify({ type: 'publish', room, text }));
    await sleep(1000 / RATE);
  }
  const deadline = Date.now() + 10_000;
  while ((lat.same.length < MESSAGES || lat.other.length < MESSAGES) && Date.now() < deadline) await sleep(50);
  for (const [name, values] of [['publisher\'s worker', lat.same], ['other worker (via the primary)', lat.other]] as const) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`${name}: ${values.length}/${MESSAGES} received, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`);
  }
  console.log(`primary CPU while relaying: ${(((cpuMs(server.child.pid!) - primaryCpuBefore) / MESSAGES) * 1000).toFixed(0)} ms per 1000 messages relayed to one other worker`);
  const crossing = [...arrived.other].flatMap(([text, t]) => (arrived.same.has(text) ? [t - arrived.same.get(text)!] : []));
  const sortedCrossing = [...crossing].sort((a, b) => a - b);
  console.log(
    `crossing (arrival on the other worker minus arrival on the publisher's, same message; ${crossing.length} pairs): p50 ${percentile(sortedCrossing, 50).toFixed(2)} ms, p99 ${percentile(sortedCrossing, 99).toFixed(2)} ms`,
  );
  for (const ws of [publisher.ws, same.ws, other.ws, ...spare]) ws.close();
} finally {
  await server.kill('SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
}
