/**
 * `npm run bench:workers-publish`: publishes acknowledged by `switchboard serve --workers N` with
 * the SQLite store (the default), with each worker committing its own appends (`--worker-appends
 * own`, the default) and with the primary committing every worker's (`--worker-appends
 * primary`), over HTTP (`POST /api/rooms/:room/messages`) from BENCH_CLIENTS (64) keep-alive
 * connections, which the workers share, to BENCH_ROOMS (100) rooms:
 *  1. at a steady BENCH_RATE (2,000) per second for BENCH_SECONDS (5): the time from each publish
 *     to its acknowledgement (stored and synced), p50, p99 and the longest;
 *  2. as fast as they are acknowledged, for as long: acknowledged publishes per second.
 * For each of BENCH_WORKERS (`2,3`), the two modes in turn, BENCH_ROUNDS (3) rounds, the medians
 * printed: the modes compared in one run. The built CLI (`npm run build` first) runs with the V8
 * flags `npm start` gives it.
 *
 * What it shows: workers that each commit their own appends wait for each other's SQLite write
 * lock (a batch that finds it taken is tried again a moment later, the worker serving meanwhile),
 * and their commits are smaller; a primary that commits them all takes a round trip more per
 * acknowledgement.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_V8_FLAGS } from '../src/server/v8-flags.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const ROOMS = Number(process.env.BENCH_ROOMS ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKERS = (process.env.BENCH_WORKERS ?? '2,3').split(',').map(Number);
const MODES = ['own', 'primary'] as const;
type Mode = (typeof MODES)[number];
const CLI = path.resolve('dist/src/cli/index.js');

interface Measure {
  p50: number;
  p99: number;
  max: number;
  perSecond: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function request(port: number, agent: http.Agent, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The server with `workers` workers whose appends `mode` commits, listening; resolves with its port and process. */
async function serve(mode: Mode, workers: number, dataDir: string): Promise<{ port: number; child: ChildProcess }> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const limits = ['--rate-limit', '1000000', '--rate-burst', '1000000', '--create-rate', '100000', '--rooms-per-day', '1000000', '--connect-rate', '100000'];
  const child = spawn(process.execPath, [...DEFAULT_V8_FLAGS, CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--workers', String(workers), '--worker-appends', mode, '--data-dir', dataDir, '--log-level', 'error', ...limits], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const agent = new http.Agent({ keepAlive: false });
  for (let i = 0; i < 150; i++) {
    if ((await request(port, agent, 'GET', '/readyz').catch(() => 0)) === 200) return { port, child };
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`--worker-appends ${mode}: the server did not get ready`);
}

/** Publishes from CLIENTS loops for SECONDS, each at its share of `rate` per second (0: as fast as acknowledged). */
async function publish(port: number, rate: number): Promise<Measure> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const latencies: number[] = [];
  let running = true;
  let failed = 0;
  const started = performance.now();
  const loop = async (i: number): Promise<void> => {
    const first = started + (rate > 0 ? (i * 1000) / rate : 0);
    for (let n = 0; running; n++) {
      if (rate > 0) {
        const wait = first + (n * CLIENTS * 1000) / rate - performance.now();
        if (wait > 0) await sleep(wait);
        if (!running) break;
      }
      const sent = performance.now();
      const status = await request(port, agent, 'POST', `/api/rooms/r${(i + n) % ROOMS}/messages`, JSON.stringify({ text: `m${n}` }));
      if (status === 201 || status === 200) latencies.push(performance.now() - sent);
      else failed++;
    }
  };
  const loops = Array.from({ length: CLIENTS }, (_, i) => loop(i));
  await sleep(SECONDS * 1000);
  running = false;
  await Promise.all(loops);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  if (failed > 0) throw new Error(`${failed} publishes were refused`);
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1]!, perSecond: latencies.length / seconds };
}

async function measure(mode: Mode, workers: number): Promise<{ steady: Measure; full: Measure }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-workers-publish-'));
  const { port, child } = await serve(mode, workers, dataDir);
  try {
    const agent = new http.Agent({ keepAlive: true });
    for (let i = 0; i < ROOMS; i++) await request(port, agent, 'PUT', `/api/rooms/r${i}`);
    agent.destroy();
    const steady = await publish(port, RATE);
    const full = await publish(port, 0);
    return { steady, full };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number): string => n.toFixed(1);

console.log(`HTTP publishes to --workers N (SQLite), ${CLIENTS} clients, ${ROOMS} rooms: ack latency at ${RATE}/s, and acked/s at full speed, ${SECONDS} s each; medians of ${ROUNDS} rounds`);
for (const workers of WORKERS) {
  const results = new Map<Mode, { steady: Measure; full: Measure }[]>(MODES.map((m) => [m, []]));
  for (let round = 0; round < ROUNDS; round++) for (const mode of MODES) results.get(mode)!.push(await measure(mode, workers));
  for (const [mode, runs] of results) {
    const of = (pick: (r: { steady: Measure; full: Measure }) => number): string => fmt(median(runs.map(pick)));
    console.log(
      `  --workers ${workers} --worker-appends ${mode.padEnd(7)} at ${RATE}/s: p50 ${of((r) => r.steady.p50)} ms  p99 ${of((r) => r.steady.p99)} ms  max ${of((r) => r.steady.max)} ms   full speed: ${of((r) => r.full.perSecond)} acked/s   [p99 ${runs.map((r) => fmt(r.steady.p99)).join(' ')}]`,
    );
  }
}
