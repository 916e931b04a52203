/**
 * `npx tsx bench/accept-queue.ts [rounds]`: how long a fresh connection waits to be accepted
 * while a burst of new connections hits the same port (issue 12, item 7a's shape: 300 concurrent
 * PUTs from six loopback addresses), for Switchboard and for a bare `node:http` server that
 * answers everything at once, in one run.
 *
 * A prober (this process, 127.0.0.9) opens a new connection to `/healthz` every 5 ms during each
 * burst; the burst comes from a child process. Each server runs with a preload that logs when it
 * accepted the prober's sockets, so the wait is split into: accept (connect completed → the
 * server's `connection` event) and the rest (→ first byte of the answer). Clocks: both sides
 * use `performance.timeOrigin + performance.now()` (the same machine). `LOOP_GAPS=1` also prints
 * every stall of the server's event loop over 15 ms and every probe over 40 ms, to tell the two
 * apart.
 *
 * What it showed (2 cores, idle otherwise): the slow probes wait to be *accepted* (their TCP
 * connect completes at once), while the server's loop never stalls longer than about 25 ms
 * during the bursts; the wait is the kernel handing queued connections over in arrival order,
 * and it grows with the server's work per connection (a bare node server: about half of
 * Switchboard's). Accepting paused and handing sockets over per turn, fairly between addresses,
 * did not shorten it. A probe on another port (`--metrics-port`, which serves /healthz too) is
 * not behind the burst: see `bench/abuse.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './repo-root.js';

const ROUNDS = Number(process.argv[2] ?? 6);
const root = REPO_ROOT;
const dir = mkdtempSync(path.join(tmpdir(), 'sb-accept-'));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const abs = (): number => performance.timeOrigin + performance.now();

const HOOK = path.join(dir, 'hook.mjs');
writeFileSync(HOOK, `import net from 'node:net';
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (ev, ...args) {
  if (ev === 'connection' && String(args[0]?.remoteAddress).endsWith('127.0.0.9')) process.stderr.write('accept ' + args[0].remotePort + ' ' + (performance.timeOrigin + performance.now()) + '\\n');
  return emit.call(this, ev, ...args);
};
if (process.env.LOOP_GAPS) { let last = performance.now(); setInterval(() => { const now = performance.now(); if (now - last > 15) process.stderr.write('gap ' + (now - last).toFixed(1) + ' ' + (performance.timeOrigin + now) + '\\n'); last = now; }, 1); }
`);
const BARE = path.join(dir, 'bare.mjs');
writeFileSync(BARE, `import http from 'node:http';
http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('{"status":"ok"}')); }).listen(Number(process.argv[2]), '127.0.0.1');
`);
const ATTACK = path.join(dir, 'attack.mjs');
writeFileSync(ATTACK, `import http from 'node:http';
const url = process.argv[2]; let round = 0;
process.stdin.on('data', async () => {
  round++;
  await Promise.all(Array.from({ length: 300 }, (_, i) => new Promise((resolve) => {
    const req = http.request(url + '/api/rooms/r' + round + '-' + i, { method: 'PUT', agent: false, localAddress: '127.0.0.' + (1 + (i % 6)) }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', resolve); req.end();
  })));
  process.stdout.write('done\\n');
});
`);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Probe {
  port: number;
  start: number;
  connected: number;
  head: number;
}

function probe(url: string): Promise<Probe | undefined> {
  return new Promise((resolve) => {
    const start = abs();
    let connected = 0;
    let port = 0;
    const req = http.get(`${url}/healthz`, { agent: false, localAddress: '127.0.0.9' }, (res) => {
      const head = abs();
      res.resume();
      res.on('end', () => resolve({ port, start, connected, head }));
    });
    req.on('socket', (s) => s.on('connect', () => ((connected = abs()), (port = s.localPort ?? 0))));
    req.on('error', () => resolve(undefined));
  });
}

async function measure(label: string, args: string[]): Promise<void> {
  const port = await freePort();
  const accepts = new Map<number, number>();
  const server: ChildProcess = spawn(process.execPath, ['--import', HOOK, ...args, String(port)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (process.env.LOOP_GAPS) server.stderr!.on('data', (c: Buffer) => { for (const l of c.toString().split('\n')) if (l.startsWith('gap')) console.log(label, l); });
  let err = '';
  server.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
    const lines = err.split('\n');
    err = lines.pop()!;
    for (const l of lines) {
      const m = /^accept (\d+) ([\d.]+)$/.exec(l);
      if (m && !accepts.has(Number(m[1]))) accepts.set(Number(m[1]), Number(m[2])); // the first: the accept (a gate may hand it over later)
    }
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200 && !(await probe(url)); i++) await sleep(100);
  for (let i = 0; i < 5; i++) await probe(url); // warm both sides
  const attacker = spawn(process.execPath, [ATTACK, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  const probes: Probe[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await sleep(300);
    const done = new Promise<void>((r) => attacker.stdout!.once('data', () => r()));
    let finished = false;
    void done.then(() => (finished = true));
    attacker.stdin!.write('go\n');
    while (!finished) {
      const p = await probe(url);
      if (p) probes.push(p);
      await sleep(5);
    }
  }
  attacker.kill();
  server.kill();
  await sleep(200);
  if (process.env.LOOP_GAPS) for (const p of probes) if (p.head - p.start > 40) console.log(label, 'slow probe at', p.start.toFixed(1), 'total', (p.head - p.start).toFixed(1), 'connected', (p.connected - p.start).toFixed(1), 'accepted', ((accepts.get(p.port) ?? NaN) - p.start).toFixed(1));
  const total = probes.map((p) => p.head - p.start).sort((a, b) => a - b);
  const waits = probes.flatMap((p) => (accepts.has(p.port) ? [accepts.get(p.port)! - p.connected] : [])).sort((a, b) => a - b);
  const q = (xs: number[], f: number): string => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(f * xs.length))]!.toFixed(1) : 'n/a');
  console.log(`${label.padEnd(12)} ${probes.length} probes during ${ROUNDS} bursts: /healthz p50 ${q(total, 0.5)} ms, p99 ${q(total, 0.99)} ms, max ${q(total, 1)} ms; of which waiting to be accepted: p50 ${q(waits, 0.5)} ms, max ${q(waits, 1)} ms`);
}

console.log(`accept-queue: 300 concurrent PUTs from 6 addresses per burst, a fresh-connection /healthz probe every 5 ms from 127.0.0.9; node ${process.version}`);
await measure('bare node', [BARE]);
await measure('Switchboard', [path.join(root, 'bin/switchboard.js'), 'serve', '--store', 'memory', '--max-rooms', '50', '--log-level', 'error', '--port']);
