// What a held long poll keeps alive on the server, by where it was allocated: `node --expose-gc
// bench/held-poll-memory.mjs` (the built server, `npm run build` first). A client process opens
// BENCH_POLLS (2,000) keep-alive connections and has one poll answered on each (the connections
// and what they keep are then made), then holds a long poll on each: the native route
// (`/api/rooms/bench/longpoll?after=<head>`), or with BENCH_KIND=lecture the lecture's `/longpoll`
// with the cookies its first `/poll` set (a presence ticket among them). The server process takes
// a sampling heap profile (V8's, through node:inspector, one sample per 64 bytes on average) from
// just before the held polls come to 2.5 s after, after two full GCs: what is left is what the
// held polls keep, and what a minor collection copies while they wait. Printed: bytes per poll in
// all, Switchboard's part (allocated in its own code), and the top sites (BENCH_TOP, 30) by their
// BENCH_FRAMES (2) innermost frames.
import { fork } from 'node:child_process';
import http from 'node:http';
import { Session } from 'node:inspector/promises';

const N = Number(process.env.BENCH_POLLS ?? 2000);
const KIND = process.env.BENCH_KIND ?? 'native';

if (process.env.HELD_POLL_ROLE === 'client') {
  const port = Number(process.env.HELD_POLL_PORT);
  // As many free sockets kept as there are clients: past node's default of 256, the next round would open new connections.
  const agent = new http.Agent({ keepAlive: true, maxSockets: N + 10, maxFreeSockets: N + 10 });
  const get = (path, headers = {}) =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ body, cookies: res.headers['set-cookie'] ?? [] }));
      });
      req.on('error', reject);
    });
  const jars = [];
  let cursor = '';
  await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      if (KIND === 'lecture') jars[i] = (await get('/poll')).cookies.map((c) => c.split(';')[0]).join('; ');
      else cursor = JSON.parse((await get('/api/rooms/bench/poll')).body).cursor;
    }),
  );
  process.send('ready');
  await new Promise((resolve) => process.once('message', resolve));
  for (let i = 0; i < N; i++) {
    const held = KIND === 'lecture' ? get('/longpoll', { cookie: jars[i] }) : get(`/api/rooms/bench/longpoll?timeout=60000&after=${cursor}`);
    held.catch(() => {});
  }
  await new Promise(() => {});
}

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const { createSwitchboard } = await import('../dist/src/server/server.js');
const server = createSwitchboard({
  port: 0,
  host: '127.0.0.1',
  store: 'memory',
  logLevel: 'silent',
  rateLimitPerSecond: 1e6,
  rateLimitBurst: 1e6,
  connectRatePerSecond: 1e6,
  maxConnectionsPerAddress: 20_000,
  maxConnectionsPerMember: 20_000,
  maxConnections: 15_000,
  longPollTimeoutMs: 60_000,
});
const port = await server.listen();
await server.hub.createRoom('bench');
const child = fork(new URL(import.meta.url).pathname, [], { env: { ...process.env, HELD_POLL_ROLE: 'client', HELD_POLL_PORT: String(port) } });
await new Promise((resolve) => child.once('message', resolve));

const inspector = new Session();
inspector.connect();
globalThis.gc();
await inspector.post('HeapProfiler.startSampling', { samplingInterval: 64 });
child.send('go');
await new Promise((resolve) => setTimeout(resolve, 2500));
globalThis.gc();
globalThis.gc();
const { profile } = await inspector.post('HeapProfiler.getSamplingProfile');
await inspector.post('HeapProfiler.stopSampling');

const frames = Number(process.env.BENCH_FRAMES ?? 2);
const sites = new Map();
let total = 0;
let ours = 0;
const walk = (node, stack) => {
  const f = node.callFrame;
  const here = [...stack, `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-1)[0]}:${f.lineNumber + 1}`];
  if (node.selfSize > 0) {
    const key = here.slice(-frames).join(' < ');
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    // Switchboard's part: what its own functions allocated (node's objects of the request are not).
    if (f.url.includes('/dist/src/')) ours += node.selfSize;
  }
  for (const child of node.children) walk(child, here);
};
walk(profile.head, []);
console.log(`${KIND} long polls: ${N} held, ${(total / N).toFixed(0)} B kept per poll, of which ${(ours / N).toFixed(0)} B allocated in Switchboard's own code`);
for (const [where, bytes] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_TOP ?? 30))) console.log(`  ${(bytes / N).toFixed(0).padStart(6)} B  ${where}`);
child.kill();
await server.close();
process.exit(0);
