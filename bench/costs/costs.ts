/**
 * What each request, connection and message costs (issue 10, part 4): short runs, one server
 * process per measure, the peers in the same run. `npx tsx bench/costs/costs.ts [poll] [connect]
 * [memory] [sse]` (all four when none is named).
 *
 * - poll: 100 polling clients (COSTS_POLLERS), 50 messages/s (COSTS_RATE) for 6 s
 *   (COSTS_SECONDS), published over HTTP: server CPU per 1000 deliveries and per 1000 requests
 *   answered, latency p50, on Switchboard's native routes (`/api/rooms/bench/longpoll`, `poll`
 *   every 1 s), the lecture's (`/longpoll`, `/poll`: one message per answer, a cookie jar per
 *   client), and Socket.IO 4's polling transport.
 * - connect: 2000 WebSockets (COSTS_CONNECTIONS), 50 at a time, each subscribing to `bench`
 *   (Switchboard, SQLite store: its default) or just open (bare `ws`): seconds until all are in.
 * - memory: server RSS (after a GC) per idle connection at 2000, WebSocket and SSE; the RSS of
 *   an idle Switchboard process (run through tsx: the built server is smaller still).
 * - sse: 200 SSE clients (COSTS_SSE_CLIENTS), 100 messages/s for 3 s: delivery latency p50/p99.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type WebSocket from 'ws';
import { ServerProcess, fmt, openSse, openWs, percentile, sleep, type Stats } from '../lib.js';

const POLLERS = Number(process.env.COSTS_POLLERS ?? 100);
const RATE = Number(process.env.COSTS_RATE ?? 50);
const SECONDS = Number(process.env.COSTS_SECONDS ?? 6);
const CONNECTIONS = Number(process.env.COSTS_CONNECTIONS ?? 2000);
const SSE_CLIENTS = Number(process.env.COSTS_SSE_CLIENTS ?? 200);
/** The Switchboard server: the built one (as `npm start` runs it) unless COSTS_TSX=1. */
const SWITCHBOARD = process.env.COSTS_TSX ? 'switchboard-server.ts' : '../costs/switchboard-built-server.mjs';

interface Answer {
  status: number;
  body: string;
  cookies: string[];
}

function get(url: string, agent: http.Agent, cookie?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: cookie ? { cookie } : {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookies: res.headers['set-cookie'] ?? [] }));
      })
      .on('error', reject);
  });
}

function post(url: string, agent: http.Agent, body: string, contentType = 'application/json'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': contentType } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cookies: [] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A client's cookies, as a browser keeps them (name=value; attributes ignored). */
class CookieJar {
  private readonly jar = new Map<string, string>();
  take(setCookies: string[]): void {
    for (const c of setCookies) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  }
  get header(): string | undefined {
    return this.jar.size ? [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }
}

interface PollFleet {
  deliveries: number;
  requests: number;
  latencies: number[];
  stop(): Promise<void>;
}

function noteText(fleet: PollFleet, text: unknown): void {
  if (typeof text !== 'string') return;
  const m = /^lat:([\d.]+)$/.exec(text);
  if (!m) return;
  fleet.deliveries++;
  fleet.latencies.push(performance.now() - Number(m[1]));
}

type PollKind = 'native-longpoll' | 'native-poll' | 'lecture-longpoll' | 'lecture-poll' | 'socket.io-polling';

async function openPollFleet(port: number, kind: PollKind, n: number): Promise<PollFleet> {
  const base = `http://127.0.0.1:${port}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: n + 10 });
  const fleet: PollFleet = { deliveries: 0, requests: 0, latencies: [], stop: async () => {} };
  let running = true;
  const client = async (i: number): Promise<void> => {
    if (kind === 'native-poll') await sleep((i / n) * 1000);
    if (kind === 'socket.io-polling') {
      const q = `${base}/socket.io/?EIO=4&transport=polling`;
      const open = JSON.parse((await get(q, agent)).body.slice(1)) as { sid: string };
      const url = `${q}&sid=${open.sid}`;
      await post(url, agent, '40', 'text/plain;charset=UTF-8');
      while (running) {
        const r = await get(url, agent);
        fleet.requests++;
        for (const packet of r.body.split('\x1e')) {
          if (packet === '2') await post(url, agent, '3', 'text/plain;charset=UTF-8');
          else if (packet.startsWith('42')) noteText(fleet, (JSON.parse(packet.slice(2)) as [string, { text: string }])[1].text);
        }
      }
      return;
    }
    if (kind === 'lecture-longpoll' || kind === 'lecture-poll') {
      const jar = new CookieJar();
      const path = kind === 'lecture-poll' ? '/poll' : '/longpoll';
      while (running) {
        const r = await get(base + path, agent, jar.header);
        fleet.requests++;
        jar.take(r.cookies);
        if (r.status === 200) noteText(fleet, (JSON.parse(r.body) as { text: string }).text);
        // The lecture's poll page asks every few seconds; one that got a message asks again at once to keep up.
        else if (kind === 'lecture-poll') await sleep(1000);
      }
      return;
    }
    const path = kind === 'native-poll' ? 'poll' : 'longpoll';
    let cursor = (JSON.parse((await get(`${base}/api/rooms/bench/poll`, agent)).body) as { cursor: string }).cursor;
    while (running) {
      const r = await get(`${base}/api/rooms/bench/${path}?after=${cursor}&timeout=5000`, agent);
      fleet.requests++;
      const answer = JSON.parse(r.body) as { entries: { type: string; text?: string }[]; cursor: string; more: boolean };
      for (const e of answer.entries) if (e.type === 'message') noteText(fleet, e.text);
      cursor = answer.cursor;
      if (kind === 'native-poll' && !answer.more) await sleep(1000);
    }
  };
  const loops = Array.from({ length: n }, (_, i) => client(i));
  fleet.stop = async () => {
    running = false;
    // Held polls answer within their timeout; do not wait for them.
    await Promise.race([Promise.all(loops), sleep(1000)]);
    agent.destroy();
  };
  await sleep(1500);
  return fleet;
}

/** User and system CPU ticks of the server process so far (/proc/<pid>/stat). */
function procTicks(server: ServerProcess): number[] {
  const fields = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return [Number(fields[11]), Number(fields[12])];
}

async function publishAtRate(url: string, rate: number, seconds: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const start = performance.now();
  const total = rate * seconds;
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    await post(url, agent, JSON.stringify({ text: `lat:${performance.now()}` }));
  }
  agent.destroy();
}

async function pollCosts(): Promise<void> {
  console.log(`Polling: ${POLLERS} clients, ${RATE} messages/s for ${SECONDS} s (server CPU per 1000 deliveries / per 1000 requests answered)`);
  const runs: { kind: PollKind; script: string; publish: string }[] = [
    { kind: 'native-longpoll', script: SWITCHBOARD, publish: '/api/rooms/bench/messages' },
    { kind: 'native-poll', script: SWITCHBOARD, publish: '/api/rooms/bench/messages' },
    { kind: 'lecture-longpoll', script: SWITCHBOARD, publish: '/update' },
    { kind: 'lecture-poll', script: SWITCHBOARD, publish: '/update' },
    { kind: 'socket.io-polling', script: '../costs/socket-io-polling-server.ts', publish: '/publish' },
  ];
  const only = process.env.COSTS_POLL_KINDS?.split(',');
  for (const run of runs) {
    if (only && !only.includes(run.kind)) continue;
    const server = await ServerProcess.start(run.script);
    try {
      const fleet = await openPollFleet(server.port, run.kind, POLLERS);
      fleet.deliveries = 0;
      fleet.requests = 0;
      fleet.latencies = [];
      const before = await server.stats();
      const ticksBefore = procTicks(server);
      await publishAtRate(`http://127.0.0.1:${server.port}${run.publish}`, RATE, SECONDS);
      await sleep(1500);
      const after = await server.stats();
      const ticks = procTicks(server).map((t, i) => t - ticksBefore[i]!);
      const cpuMs = (after.cpuMicros - before.cpuMicros) / 1000;
      const { deliveries, requests } = fleet;
      await fleet.stop();
      console.log(
        `  ${run.kind.padEnd(18)} CPU ${fmt((cpuMs / Math.max(1, deliveries)) * 1000, 1).padStart(7)} ms/1000 deliveries  ${fmt((cpuMs / Math.max(1, requests)) * 1000, 1).padStart(7)} ms/1000 requests   deliveries ${String(deliveries).padStart(6)}/${POLLERS * RATE * SECONDS}   requests ${String(requests).padStart(6)}   p50 ${fmt(percentile(fleet.latencies, 50), 1)} ms  p99 ${fmt(percentile(fleet.latencies, 99), 1)} ms   user/system ${ticks[0]}/${ticks[1]} ticks`,
      );
    } finally {
      await server.stop();
    }
  }
}

async function openMany(n: number, open: () => Promise<() => void>): Promise<(() => void)[]> {
  const closers: (() => void)[] = [];
  for (let i = 0; i < n; i += 50) closers.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, open))));
  return closers;
}

/** Opens a native WebSocket, subscribes to `bench`, resolves once subscribed. */
async function subscribedWs(port: number): Promise<() => void> {
  const ws: WebSocket = await openWs(`ws://127.0.0.1:${port}/api/ws?name=c`);
  await new Promise<void>((resolve) => {
    ws.on('message', (d: Buffer) => {
      if (d.toString().includes('"type":"subscribed"')) resolve();
    });
    ws.send(JSON.stringify({ type: 'subscribe', room: 'bench' }));
  });
  return () => ws.terminate();
}

async function connectCosts(): Promise<void> {
  console.log(`Connecting ${CONNECTIONS} WebSockets, 50 at a time:`);
  for (const [name, script, env] of [
    ['switchboard (sqlite)', SWITCHBOARD, { BENCH_STORE: 'sqlite', DATA_DIR: `/tmp/costs-bench-${process.pid}` }],
    ['bare ws', 'bare-ws-server.ts', {}],
  ] as const) {
    const server = await ServerProcess.start(script, env);
    try {
      const started = performance.now();
      const closers = await openMany(CONNECTIONS, name === 'bare ws' ? async () => ((ws) => () => ws.terminate())(await openWs(`ws://127.0.0.1:${server.port}/`)) : () => subscribedWs(server.port));
      const seconds = (performance.now() - started) / 1000;
      console.log(`  ${name.padEnd(22)} ${fmt(seconds, 2)} s`);
      for (const c of closers) c();
    } finally {
      await server.stop();
    }
  }
}

async function memoryCosts(): Promise<void> {
  console.log(`Idle memory per connection at ${CONNECTIONS} (server RSS after a GC), and an idle process:`);
  for (const kind of ['websocket', 'sse', 'bare ws'] as const) {
    const server = await ServerProcess.start(kind === 'bare ws' ? 'bare-ws-server.ts' : SWITCHBOARD);
    try {
      await sleep(500);
      const before = await server.stats();
      const closers = await openMany(CONNECTIONS, async () => {
        if (kind === 'bare ws') return ((ws) => () => ws.terminate())(await openWs(`ws://127.0.0.1:${server.port}/`));
        if (kind === 'websocket') return subscribedWs(server.port);
        const req = await openSse(`http://127.0.0.1:${server.port}/api/rooms/bench/events?name=idle`, () => {});
        return () => req.destroy();
      });
      await sleep(1500);
      const after = await server.stats();
      console.log(
        `  ${kind.padEnd(10)} RSS ${fmt((after.rss - before.rss) / CONNECTIONS / 1024, 1).padStart(6)} KiB/connection  heap+external ${fmt((after.heapUsed + after.external - before.heapUsed - before.external) / CONNECTIONS / 1024, 1).padStart(6)} KiB/connection   heap total ${fmt(((after as Stats & { heapTotal?: number }).heapTotal ?? NaN) / 1048576 - ((before as Stats & { heapTotal?: number }).heapTotal ?? NaN) / 1048576, 1)} MiB more   idle process RSS ${fmt(before.rss / 1048576, 1)} MiB`,
      );
      for (const c of closers) c();
    } finally {
      await server.stop();
    }
  }
}

async function sseLatency(): Promise<void> {
  const server = await ServerProcess.start(SWITCHBOARD);
  try {
    const latencies: number[] = [];
    const closers = await openMany(SSE_CLIENTS, async () => {
      let buf = '';
      const req = await openSse(`http://127.0.0.1:${server.port}/api/rooms/bench/events?name=s`, (chunk) => {
        buf += chunk;
        let idx: number;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          const m = /"text":"lat:([\d.]+)"/.exec(block);
          if (m) latencies.push(performance.now() - Number(m[1]));
        }
      });
      return () => req.destroy();
    });
    await sleep(1000);
    await publishAtRate(`http://127.0.0.1:${server.port}/api/rooms/bench/messages`, 100, 3);
    await sleep(500);
    console.log(`SSE, ${SSE_CLIENTS} clients, 100 messages/s for 3 s: p50 ${fmt(percentile(latencies, 50), 1)} ms  p99 ${fmt(percentile(latencies, 99), 1)} ms  (${latencies.length}/${SSE_CLIENTS * 300})`);
    for (const c of closers) c();
  } finally {
    await server.stop();
  }
}

const wanted = process.argv.slice(2);
const all = wanted.length === 0;
if (all || wanted.includes('poll')) await pollCosts();
if (all || wanted.includes('connect')) await connectCosts();
if (all || wanted.includes('memory')) await memoryCosts();
if (all || wanted.includes('sse')) await sseLatency();
process.exit(0);
