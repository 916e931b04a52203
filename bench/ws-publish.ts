/**
 * `npx tsx bench/ws-publish.ts [dist...]`: how fast one WebSocket client's publishes are stored
 * and acknowledged (`/api/ws`, pipelined: 64 in flight, the server's cap), in this process, with
 * the memory store, so the server's own path is what is timed: BENCH_PUBLISHES (20,000) acked
 * publishes per round, BENCH_ROUNDS (5) rounds, the median printed.
 *
 * Each argument is a built tree (`dist` of this checkout by default, or another build's, e.g. a
 * git worktree of an older commit with `npx tsc -p .` run in it): the builds are measured in
 * turn, round by round, so a change can be compared with the code before it in one run.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';

const PUBLISHES = Number(process.env.BENCH_PUBLISHES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const IN_FLIGHT = 64;

interface Built {
  dist: string;
  port: number;
  close(): Promise<void>;
  ms: number[];
}

async function start(dist: string): Promise<Built> {
  const { createSwitchboard } = (await import(pathToFileURL(path.resolve(dist, 'src/server/server.js')).href)) as typeof import('../src/server/server.js');
  const server = createSwitchboard({ port: 0, host: '127.0.0.1', store: 'memory', logLevel: 'silent', rateLimitPerSecond: 1e7, rateLimitBurst: 1e7, retentionCount: 1e6 });
  const port = await server.listen();
  await server.hub.createRoom('p');
  return { dist, port, close: () => server.close(), ms: [] };
}

/** Publishes PUBLISHES messages over one new socket, IN_FLIGHT at a time; ms until the last ack. */
async function round(port: number): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let sent = 0;
  let acked = 0;
  const send = (): void => ws.send(JSON.stringify({ type: 'publish', id: String(sent), room: 'p', text: `m${sent++}` }));
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; code?: string };
      if (frame.type === 'error') reject(new Error(`refused: ${frame.code}`));
      if (frame.type !== 'ack') return;
      if (++acked === PUBLISHES) resolve();
      else if (sent < PUBLISHES) send();
    });
    while (sent < IN_FLIGHT) send();
  });
  const ms = performance.now() - started;
  ws.close();
  return ms;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const builds = await Promise.all((process.argv.length > 2 ? process.argv.slice(2) : ['dist']).map(start));
console.log(`${PUBLISHES} acknowledged publishes over one WebSocket, ${IN_FLIGHT} in flight, memory store; ${ROUNDS} rounds`);
for (let r = 0; r < ROUNDS; r++) for (const b of builds) b.ms.push(await round(b.port));
for (const b of builds) {
  console.log(`  ${b.dist.padEnd(24)} median ${median(b.ms).toFixed(0)} ms (${((PUBLISHES / median(b.ms)) * 1000).toFixed(0)}/s)  [${b.ms.map((m) => m.toFixed(0)).join(' ')}]`);
  await b.close();
}
process.exit(0);
