/**
 * `npm run bench`: Switchboard against Socket.IO and a bare `ws` broadcast server, in one run, on loopback.
 *
 *  Peers: Socket.IO 4 (WebSocket transport) and a bare `ws` server that re-encodes per recipient.
 *  1. Server CPU per 1000 WebSocket deliveries: CLIENTS subscribers, a burst of BURST messages,
 *     ROUNDS rounds, median (server CPU = user + system time of the server process).
 *  2. Latency p50/p99 at a fixed rate (RATE messages/s for 3 s) to the same subscribers.
 *  3. Idle memory per WebSocket and per SSE connection (IDLE connections, after a GC).
 *  4. No loss, no duplicate, in order, on every transport under load (Switchboard only).
 *  6. Two nodes through Redis vs one node (latency), and publish throughput memory / SQLite / Redis (bench/cluster.ts).
 *  5. The four transports side by side (Switchboard): 100 clients each, 100 messages at 20/s:
 *     server CPU per 1000 deliveries, latency, HTTP requests made (polling every 1 s).
 *
 * Environment: BENCH_CLIENTS (200), BENCH_BURST (500), BENCH_ROUNDS (5), BENCH_RATE (100), BENCH_IDLE (1000);
 * BENCH_ONLY=switchboard runs sections 1-3 for Switchboard alone (to compare settings, with
 * BENCH_SERVER_NODE_ARGS for node's own flags).
 *
 * `npm run bench -- --report [file]` runs nothing: it writes the HTML report of the results the
 * scale benches left in bench/results/ (bench:connections, bench:jitter, bench:rolling-restart,
 * bench:workers-load) to `file` (default bench/report.html). See bench/report.ts.
 */
import http from 'node:http';
import type WebSocket from 'ws';
import { ServerProcess, fmt, getJson, median, openSse, openWs, percentile, sleep, waitUntil } from './lib.js';
import { clusterBench } from './cluster.js';
import { compareTransports } from './transports.js';
import { writeReport } from './report.js';

const reportAt = process.argv.indexOf('--report');
if (reportAt >= 0) {
  const target = process.argv[reportAt + 1];
  console.log(`report written: ${writeReport(target !== undefined && !target.startsWith('--') ? target : undefined)}`);
  process.exit(0);
}

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 200);
const BURST = Number(process.env.BENCH_BURST ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const IDLE = Number(process.env.BENCH_IDLE ?? 1000);

interface Target {
  name: string;
  script: string;
  /** URL path of the WebSocket endpoint. */
  wsPath: string;
  subscribe?: string;
  /** Sent by the publisher once connected (Socket.IO's namespace connect). */
  publisherHello?: string;
  publishFrame: (text: string) => string;
}

const targets: Target[] = [
  {
    name: 'switchboard',
    script: 'switchboard-server.ts',
    wsPath: '/api/ws?name=bench',
    subscribe: JSON.stringify({ type: 'subscribe', room: 'bench' }),
    publishFrame: (text) => JSON.stringify({ type: 'publish', room: 'bench', text }),
  },
  {
    name: 'Socket.IO 4 (websocket only)',
    script: 'socket-io-server.ts',
    wsPath: '/socket.io/?EIO=4&transport=websocket',
    // Engine.IO: "40" joins the default namespace; "42[...]" is an event; "2" is a ping to answer "3".
    subscribe: '40',
    publisherHello: '40',
    publishFrame: (text) => `42${JSON.stringify(['publish', { text }])}`,
  },
  { name: 'bare ws (re-encodes per recipient)', script: 'bare-ws-server.ts', wsPath: '/', publishFrame: (text) => JSON.stringify({ text }) },
];

interface Subscriber {
  ws: WebSocket;
  count: number;
  latencies: number[];
  measure: boolean;
}

async function connectSubscribers(server: ServerProcess, t: Target, n: number): Promise<Subscriber[]> {
  const subs: Subscriber[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const ws = await openWs(`ws://127.0.0.1:${server.port}${t.wsPath}`);
        const sub: Subscriber = { ws, count: 0, latencies: [], measure: false };
        ws.on('message', (data: Buffer) => {
          const text = data.toString();
          if (text === '2') ws.send('3'); // Engine.IO ping
          if (!text.includes('"type":"message"')) return;
          sub.count++;
          if (sub.measure) {
            const m = /"text":"t:([\d.]+)"/.exec(text);
            if (m) sub.latencies.push(performance.now() - Number(m[1]));
          }
        });
        if (t.subscribe) ws.send(t.subscribe);
        return sub;
      }),
    );
    subs.push(...batch);
  }
  await sleep(1000); // presence joins settle
  return subs;
}

async function cpuPerThousand(server: ServerProcess, t: Target, subs: Subscriber[], publisher: WebSocket): Promise<number[]> {
  const results: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of subs) s.count = 0;
    const before = await server.stats();
    for (let i = 0; i < BURST; i++) publisher.send(t.publishFrame(`burst ${round} ${i}`));
    await waitUntil(() => subs.every((s) => s.count >= BURST), 120_000, `${t.name}: burst delivered`);
    const after = await server.stats();
    const deliveries = BURST * subs.length;
    results.push((after.cpuMicros - before.cpuMicros) / 1000 / (deliveries / 1000));
    await sleep(200);
  }
  return results;
}

async function latency(t: Target, subs: Subscriber[], publisher: WebSocket): Promise<{ p50: number; p99: number; n: number }> {
  for (const s of subs) {
    s.latencies = [];
    s.measure = true;
  }
  const total = RATE * 3;
  const interval = 1000 / RATE;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    publisher.send(t.publishFrame(`t:${performance.now()}`));
  }
  await sleep(500);
  for (const s of subs) s.measure = false;
  const all = subs.flatMap((s) => s.latencies);
  return { p50: percentile(all, 50), p99: percentile(all, 99), n: all.length };
}

async function idleMemory(server: ServerProcess, t: Target, kind: 'ws' | 'sse'): Promise<number> {
  const before = await server.stats();
  const closers: (() => void)[] = [];
  for (let i = 0; i < IDLE; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, IDLE - i) }, async () => {
        if (kind === 'ws') {
          const ws = await openWs(`ws://127.0.0.1:${server.port}${t.wsPath}`);
          if (t.subscribe) ws.send(t.subscribe);
          closers.push(() => ws.terminate());
        } else {
          const req = await openSse(`http://127.0.0.1:${server.port}/api/rooms/bench/events?name=idle`, () => {});
          closers.push(() => req.destroy());
        }
      }),
    );
  }
  await sleep(1500);
  const after = await server.stats();
  for (const c of closers) c();
  await sleep(500);
  // JS heap + external buffers after a GC: steadier than RSS, which keeps freed pages.
  return (after.heapUsed + after.external - before.heapUsed - before.external) / IDLE;
}

/** Loss / duplicate / order check under load: clients on every transport, publishers on WS and HTTP. */
async function integrity(server: ServerProcess): Promise<string[]> {
  const base = `http://127.0.0.1:${server.port}`;
  const per = 25;
  const N = 600;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 200 });
  const received = new Map<string, number[]>();
  const stops: (() => void)[] = [];
  const start = await getJson<{ cursor: string }>(`${base}/api/rooms/bench/poll`, agent);
  for (let i = 0; i < per; i++) {
    const ws = await openWs(`ws://127.0.0.1:${server.port}/api/ws?name=i`);
    const seqs: number[] = [];
    received.set(`websocket#${i}`, seqs);
    ws.on('message', (d: Buffer) => {
      const f = JSON.parse(d.toString()) as { type: string; seq: number };
      if (f.type === 'message') seqs.push(f.seq);
    });
    ws.send(JSON.stringify({ type: 'subscribe', room: 'bench', after: start.cursor }));
    stops.push(() => ws.close());
  }
  for (let i = 0; i < per; i++) {
    const seqs: number[] = [];
    received.set(`sse#${i}`, seqs);
    let buf = '';
    const req = await openSse(`${base}/api/rooms/bench/events?after=${start.cursor}`, (chunk) => {
      buf += chunk;
      let idx: number;
      while ((idx = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, idx);
        buf = buf.slice(idx + 2);
        if (block.includes('event: message')) seqs.push((JSON.parse(/data: (.*)/.exec(block)![1]!) as { seq: number }).seq);
      }
    });
    stops.push(() => req.destroy());
  }
  let running = true;
  const pollers: Promise<void>[] = [];
  for (const kind of ['longpoll', 'poll'] as const) {
    for (let i = 0; i < per; i++) {
      const seqs: number[] = [];
      received.set(`${kind === 'poll' ? 'polling' : 'long-polling'}#${i}`, seqs);
      pollers.push(
        (async () => {
          let cursor = start.cursor;
          while (running) {
            const r = await getJson<{ entries: { type: string; seq: number }[]; cursor: string }>(`${base}/api/rooms/bench/${kind}?after=${cursor}&timeout=1000`, agent);
            for (const e of r.entries) if (e.type === 'message') seqs.push(e.seq);
            cursor = r.cursor;
            if (kind === 'poll') await sleep(100);
          }
        })(),
      );
    }
  }
  const publisher = await openWs(`ws://127.0.0.1:${server.port}/api/ws?name=pub`);
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) publisher.send(JSON.stringify({ type: 'publish', room: 'bench', text: `i${i}`, clientId: `i-${i}` }));
    else
      await new Promise<void>((resolve) => {
        const req = http.request(`${base}/api/rooms/bench/messages`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.end(JSON.stringify({ text: `i${i}`, clientId: `i-${i}` }));
      });
    if (i % 20 === 0) await sleep(5);
  }
  await waitUntil(() => [...received.values()].every((s) => s.length >= N), 30_000, 'integrity: everyone got everything').catch(() => {});
  running = false;
  await Promise.all(pollers);
  for (const s of stops) s();
  publisher.close();
  agent.destroy();
  const lines: string[] = [];
  const byTransport = new Map<string, { ok: number; bad: number }>();
  for (const [key, seqs] of received) {
    const transport = key.split('#')[0]!;
    const ok = seqs.length === N && new Set(seqs).size === N && seqs.every((v, i) => i === 0 || v > seqs[i - 1]!);
    const t = byTransport.get(transport) ?? { ok: 0, bad: 0 };
    if (ok) t.ok++;
    else t.bad++;
    byTransport.set(transport, t);
  }
  for (const [transport, t] of byTransport) lines.push(`  ${transport.padEnd(13)} ${t.ok}/${t.ok + t.bad} clients got all ${N} messages once, in order${t.bad ? '  <-- LOSS OR DUPLICATES' : ''}`);
  return lines;
}

async function main(): Promise<void> {
  console.log(`Switchboard benchmark: ${CLIENTS} WebSocket clients, bursts of ${BURST}, ${ROUNDS} rounds, ${RATE} msg/s latency run, ${IDLE} idle connections\n`);
  const rows: string[] = [];
  const cpuByTarget = new Map<string, number>();
  const only = process.env.BENCH_ONLY;
  for (const t of only ? targets.filter((x) => x.name.startsWith(only)) : targets) {
    const server = await ServerProcess.start(t.script);
    try {
      const subs = await connectSubscribers(server, t, CLIENTS);
      const publisher = await openWs(`ws://127.0.0.1:${server.port}${t.wsPath.replace('bench', 'publisher')}`);
      if (t.publisherHello) publisher.send(t.publisherHello);
      publisher.on('message', (d: Buffer) => {
        if (d.length === 1 && d.toString() === '2') publisher.send('3');
      });
      await sleep(300);
      const cpu = await cpuPerThousand(server, t, subs, publisher);
      const lat = await latency(t, subs, publisher);
      for (const s of subs) s.ws.terminate();
      publisher.terminate();
      await sleep(1000);
      const wsMem = await idleMemory(server, t, 'ws');
      const sseMem = t.name === 'switchboard' ? await idleMemory(server, t, 'sse') : Number.NaN;
      cpuByTarget.set(t.name, median(cpu));
      rows.push(
        `${t.name.padEnd(36)} ${fmt(median(cpu), 3).padStart(9)} ms  [${cpu.map((c) => fmt(c, 2)).join(' ')}]   p50 ${fmt(lat.p50)} ms  p99 ${fmt(lat.p99)} ms (${lat.n})   WS ${fmt(wsMem / 1024, 1)} KiB  SSE ${fmt(sseMem / 1024, 1)} KiB`,
      );
      if (t.name === 'switchboard' && !only) {
        console.log('No loss or duplicates under load (25 clients per transport, 600 messages, publishers on WebSocket and HTTP):');
        for (const line of await integrity(server)) console.log(line);
        console.log('');
        console.log('The four transports side by side: 100 clients each, 100 messages at 20/s, short polling every 1 s:');
        for (const r of await compareTransports(server, 100, 100, 20, 1000)) {
          console.log(
            `  ${r.transport.padEnd(13)} CPU ${fmt(r.cpuPerThousand, 2).padStart(7)} ms/1000 deliveries   p50 ${fmt(r.p50, 1).padStart(7)} ms   p99 ${fmt(r.p99, 1).padStart(7)} ms   HTTP requests ${String(r.requests).padStart(5)}${r.complete ? '' : '   <-- INCOMPLETE'}`,
          );
        }
        console.log('');
      }
    } finally {
      await server.stop();
    }
  }
  console.log(`${'server'.padEnd(36)} CPU/1000 deliveries (median [rounds])   latency at ${RATE} msg/s to ${CLIENTS} clients        idle memory per connection (heap + external)`);
  for (const r of rows) console.log(r);
  if (only) return;
  const sb = cpuByTarget.get('switchboard')!;
  const bare = cpuByTarget.get(targets[2]!.name)!;
  const sio = cpuByTarget.get(targets[1]!.name)!;
  console.log(`\nPer delivery, Switchboard uses ${fmt(sb / bare, 2)}x the server CPU of the bare ws broadcast and ${fmt(sb / sio, 2)}x that of Socket.IO (target: <= 1.0 ms per 1000 deliveries).`);
  console.log('');
  for (const line of await clusterBench()) console.log(line);
}

await main();
process.exit(0);
