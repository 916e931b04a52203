/**
 * What scale-out costs: `clusterBench()` returns the lines of a small report (bench/run.ts
 * prints them).
 *
 *  (a) Latency p50/p99 of a message at a fixed rate (CLUSTER_RATE msg/s for 3 s) to
 *      CLUSTER_SUBSCRIBERS WebSocket subscribers on node B of two Redis-backed nodes, published
 *      on node A (it crosses nodes through Redis) or on node B (it still goes through Redis
 *      pub/sub, but no second process), with a single memory-store node as the reference.
 *  (b) Publish throughput: acknowledged publishes per second over CLUSTER_PUBLISHERS WebSockets,
 *      each keeping CLUSTER_WINDOW publishes in flight, for 5 s, for each store (memory, SQLite
 *      with group commit: one fsynced commit per batch of appends, Redis).
 *      `npx tsx bench/cluster.ts --throughput` runs (b) alone. CLUSTER_ROUNDS=n runs the stores
 *      in turn n times (a fresh server and SQLite file each time), then prints each store's
 *      median and its median ratio to the memory store's in the same round: this machine's load
 *      moves the absolute figures more than the ratios.
 *
 * Redis: REDIS_URL (default redis://127.0.0.1:6379; a redis-cluster:// URL too), REDIS_REPLICAS
 * (the servers' --redis-replicas, default 0); the Redis rows are skipped, with a note, when it
 * does not answer. Keys use a prefix of their own and are deleted afterwards.
 * Environment: CLUSTER_SUBSCRIBERS (50), CLUSTER_RATE (100), CLUSTER_WINDOW (100), CLUSTER_PUBLISHERS (4), CLUSTER_ROUNDS (1);
 * BENCH_TSX=1 runs the servers from the sources (through tsx) instead of dist/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRedisClient, isCluster, waitUntilReady, type RedisClient } from '../src/server/redis-connection.js';
import type WebSocket from 'ws';
import { ServerProcess, fmt, median, openWs, percentile, sleep, waitUntil } from './lib.js';

const SUBSCRIBERS = Number(process.env.CLUSTER_SUBSCRIBERS ?? 50);
const RATE = Number(process.env.CLUSTER_RATE ?? 100);
const WINDOW = Number(process.env.CLUSTER_WINDOW ?? 100);
const PUBLISHERS = Number(process.env.CLUSTER_PUBLISHERS ?? 4);
const ROUNDS = Math.max(1, Number(process.env.CLUSTER_ROUNDS ?? 1));
const THROUGHPUT_MS = 5000;
/**
 * The Switchboard server: the built one (dist/, as `npm start` runs it: `npm run build` first)
 * unless BENCH_TSX=1 (the sources through tsx, whose transforms cost CPU per request).
 */
const SWITCHBOARD = process.env.BENCH_TSX ? 'switchboard-server.ts' : '../costs/switchboard-built-server.mjs';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_REPLICAS = process.env.REDIS_REPLICAS ?? '0';

const SUBSCRIBE = JSON.stringify({ type: 'subscribe', room: 'bench' });

interface Latency {
  p50: number;
  p99: number;
  n: number;
}

/** Environment of a bench server: `REDIS_URL: ''` keeps a memory or SQLite node off Redis even when the caller's environment names one. */
function serverEnv(store: 'memory' | 'sqlite' | 'redis', extra: Record<string, string> = {}): Record<string, string> {
  return { BENCH_STORE: store, REDIS_URL: '', ...extra };
}

/** A client of REDIS_URL (one Redis, Sentinel or a Redis Cluster), as the servers make theirs. */
function redisClient(): RedisClient {
  return createRedisClient(REDIS_URL, { connectionName: 'switchboard-bench', connectTimeoutMs: 1000, commandTimeoutMs: 5000 });
}

async function redisAnswers(): Promise<boolean> {
  const redis = redisClient();
  try {
    await waitUntilReady(redis, 1000);
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = redisClient();
  try {
    await waitUntilReady(redis, 5000);
    // Each master of a cluster scanned for its own keys, deleted one by one (keys of several slots cannot go in one DEL).
    for (const node of isCluster(redis) ? redis.nodes('master') : [redis]) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        await Promise.all(keys.map((key) => node.unlink(key)));
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/** Subscribers of room `bench` on `server` that record the latency of `t:<performance.now()>` messages. */
async function subscribe(server: ServerProcess, n: number): Promise<{ sockets: WebSocket[]; latencies: number[] }> {
  const latencies: number[] = [];
  const sockets = await Promise.all(
    Array.from({ length: n }, async () => {
      const ws = await openWs(`ws://127.0.0.1:${server.port}/api/ws?name=sub`);
      ws.on('message', (data: Buffer) => {
        const m = /"text":"t:([\d.]+)"/.exec(data.toString());
        if (m) latencies.push(performance.now() - Number(m[1]));
      });
      ws.send(SUBSCRIBE);
      return ws;
    }),
  );
  await sleep(500); // subscriptions and presence joins settle
  return { sockets, latencies };
}

/** Publishes RATE msg/s for `seconds` from `server`; returns the latency seen by `latencies`' owners. */
async function measure(server: ServerProcess, latencies: number[], seconds = 3): Promise<Latency> {
  const publisher = await openWs(`ws://127.0.0.1:${server.port}/api/ws?name=pub`);
  latencies.length = 0;
  const total = RATE * seconds;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    publisher.send(JSON.stringify({ type: 'publish', room: 'bench', text: `t:${performance.now()}` }));
  }
  await waitUntil(() => latencies.length >= total * SUBSCRIBERS, 5000, 'every latency sample').catch(() => {});
  publisher.close();
  const copy = [...latencies];
  return { p50: percentile(copy, 50), p99: percentile(copy, 99), n: copy.length };
}

/** Acked publishes per second over PUBLISHERS WebSockets with WINDOW in flight each, for THROUGHPUT_MS. */
async function throughput(server: ServerProcess): Promise<{ perSecond: number; errors: number }> {
  const sockets = await Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => openWs(`ws://127.0.0.1:${server.port}/api/ws?name=load${p}`)));
  let acked = 0;
  let errors = 0;
  let running = true;
  const starters = sockets.map((ws, p) => {
    let sent = 0;
    const send = (): void => {
      sent++;
      ws.send(JSON.stringify({ type: 'publish', room: 'bench', text: `load ${sent}`, clientId: `load-${p}-${sent}` }));
    };
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('{"type":"ack"')) acked++;
      else if (text.startsWith('{"type":"error"')) errors++;
      else return;
      if (running) send();
    });
    return () => {
      for (let i = 0; i < WINDOW; i++) send();
    };
  });
  const started = performance.now();
  for (const start of starters) start();
  await sleep(THROUGHPUT_MS);
  running = false;
  const elapsed = (performance.now() - started) / 1000;
  const done = acked;
  for (const ws of sockets) ws.close();
  return { perSecond: done / elapsed, errors };
}

async function latencyRows(redis: boolean): Promise<string[]> {
  const rows: string[] = [];
  const row = (label: string, l: Latency): string => `  ${label.padEnd(44)} p50 ${fmt(l.p50).padStart(6)} ms   p99 ${fmt(l.p99).padStart(6)} ms   (${l.n} deliveries)`;

  const single = await ServerProcess.start(SWITCHBOARD, serverEnv('memory'));
  try {
    const { sockets, latencies } = await subscribe(single, SUBSCRIBERS);
    await measure(single, latencies, 1); // warm-up (JIT), not counted
    rows.push(row('one node, memory store (no Redis)', await measure(single, latencies)));
    for (const s of sockets) s.terminate();
  } finally {
    await single.stop();
  }
  if (!redis) return [...rows, `  (Redis rows skipped: ${REDIS_URL} does not answer)`];

  const prefix = `sbbench:${process.pid}:${Date.now()}:`;
  const env = serverEnv('redis', { REDIS_URL, REDIS_REPLICAS, REDIS_PREFIX: prefix });
  const [a, b] = await Promise.all([ServerProcess.start(SWITCHBOARD, env), ServerProcess.start(SWITCHBOARD, env)]);
  try {
    const { sockets, latencies } = await subscribe(b, SUBSCRIBERS);
    await measure(b, latencies, 1); // warm-up of both nodes, not counted
    await measure(a, latencies, 1);
    rows.push(row('two Redis nodes, published on B (same node)', await measure(b, latencies)));
    rows.push(row('two Redis nodes, published on A (crosses)', await measure(a, latencies)));
    for (const s of sockets) s.terminate();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await deleteKeys(prefix);
  }
  return rows;
}

async function throughputRows(redis: boolean): Promise<string[]> {
  const rows: string[] = [];
  const dataDir = await mkdtemp(path.join(tmpdir(), 'switchboard-bench-'));
  const prefix = `sbbench:${process.pid}:${Date.now()}:tp:`;
  const stores: { label: string; env: (round: number) => Record<string, string> | undefined }[] = [
    { label: 'memory', env: () => serverEnv('memory') },
    { label: 'sqlite (WAL, FULL, group commit)', env: (round) => serverEnv('sqlite', { DATA_DIR: path.join(dataDir, String(round)) }) },
    { label: `redis (one node${REDIS_REPLICAS !== '0' ? `, --redis-replicas ${REDIS_REPLICAS}` : ''})`, env: (round) => (redis ? serverEnv('redis', { REDIS_URL, REDIS_REPLICAS, REDIS_PREFIX: `${prefix}${round}:` }) : undefined) },
  ];
  /** Acked publishes per second, per store, per round. */
  const rates = stores.map(() => [] as number[]);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (ROUNDS > 1) rows.push(` round ${round + 1}/${ROUNDS}`);
      for (const [i, { label, env }] of stores.entries()) {
        const serverEnvironment = env(round);
        if (!serverEnvironment) {
          rows.push(`  ${label.padEnd(32)} skipped: ${REDIS_URL} does not answer`);
          continue;
        }
        const server = await ServerProcess.start(SWITCHBOARD, serverEnvironment);
        try {
          const r = await throughput(server);
          rates[i]!.push(r.perSecond);
          rows.push(`  ${label.padEnd(32)} ${fmt(r.perSecond, 0).padStart(7)} acked publishes/s${r.errors ? `   (${r.errors} errors)` : ''}`);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    if (redis) await deleteKeys(prefix);
  }
  if (ROUNDS > 1) {
    rows.push(` median of ${ROUNDS} rounds, and the median of each round's ratio to the memory store:`);
    for (const [i, { label }] of stores.entries()) {
      const mine = rates[i]!;
      if (mine.length === 0) continue;
      const ratios = mine.map((r, round) => r / rates[0]![round]!);
      rows.push(`  ${label.padEnd(32)} ${fmt(median(mine), 0).padStart(7)} acked publishes/s   ${fmt(median(ratios), 2)} of memory   [${mine.map((r) => fmt(r, 0)).join(' ')}]`);
    }
  }
  return rows;
}

/** Runs both measurements (about 35 s) and returns the lines to print. */
export async function clusterBench(): Promise<string[]> {
  const redis = await redisAnswers();
  const lines = [`Scale-out: latency at ${RATE} msg/s to ${SUBSCRIBERS} WebSocket subscribers on node B:`];
  lines.push(...(await latencyRows(redis)));
  lines.push('', throughputTitle());
  lines.push(...(await throughputRows(redis)));
  return lines;
}

function throughputTitle(): string {
  return `Publish throughput: ${PUBLISHERS} WebSocket publisher(s), ${WINDOW} publishes in flight each, ${THROUGHPUT_MS / 1000} s, with clientIds:`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--throughput')) {
  console.log([throughputTitle(), ...(await throughputRows(await redisAnswers()))].join('\n'));
}
