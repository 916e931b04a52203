/**
 * `npx tsx bench/abuse.ts [--server-dir DIR] [--only 1a,2,...]`: what one hostile client does to a Switchboard
 * server, measured from outside. Each reproduction runs against a fresh server started as a
 * child process from the checkout DIR (default: this repository), on 127.0.0.1, memory store,
 * and the child is killed (SIGKILL) when the item ends, so items do not disturb one another and
 * an old server that has grown to gigabytes is gone at once.
 *
 * Measured per item: the server's RSS (VmRSS of /proc/<pid>/status, sampled every 100 ms) just
 * before the attack, its peak during it and at its end; /healthz latency during the attack
 * (one request at a time on a fresh connection, 50 ms apart; an answer that takes more than
 * 30 s is "> 30 s"); and the item's own counts. Flags are passed only when `serve --help` of
 * that checkout knows them, so the same script runs against old and new code.
 *
 * Every loop is bounded in count and time: the attack window of an item is at most 30 s.
 * Second client addresses are loopback aliases (127.0.0.2, ...).
 * REDIS_URL set: item 7a is repeated on the Redis store, under a unique prefix whose keys are
 * deleted afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { REPO_ROOT } from './repo-root.js';

const repoDir = REPO_ROOT;
const LOOPBACK = '127.0.0.1';
/** Longest attack window of an item, and the /healthz answer time reported as "> 30 s". */
const WINDOW_MS = 30_000;
const MB = 1024 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// --- the server under test ---------------------------------------------------------------------

/** The flags `serve --help` of a checkout lists, so that only flags it knows are passed. */
function knownFlags(dir: string): Set<string> {
  const help = execFileSync(process.execPath, ['--import', 'tsx', path.join(dir, 'src/cli/index.ts'), 'serve', '--help'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return new Set(help.match(/--[a-z][a-z-]*|\/healthz/g) ?? []);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A Switchboard server in a child process: `node --import tsx <dir>/src/cli/index.ts serve ...`. */
class ServerChild {
  private readonly output: string[] = [];
  /** What the server wrote on stdout (its log): bytes and lines. */
  stdoutBytes = 0;
  stdoutLines = 0;
  /** The flags asked for that this checkout does not know (not passed). */
  readonly skipped: string[];
  /** The certificate (PEM) of `--tls-cert` when one was passed: the main port speaks HTTPS, and clients trust it. */
  readonly ca: Buffer | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    /** The operations port (`--metrics-port`: /metrics, /healthz, /readyz), when the checkout has one. */
    readonly opsPort: number | undefined,
    readonly passed: string[],
    skipped: string[],
  ) {
    this.skipped = skipped;
    const certFile = this.certFile;
    this.ca = certFile === undefined ? undefined : readFileSync(certFile);
    // Drained continuously: a full pipe would block the server.
    const keep = (chunk: Buffer): void => {
      this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (this.output.length > 40) this.output.splice(0, this.output.length - 40);
    };
    child.stdout?.on('data', keep);
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdoutBytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) this.stdoutLines++;
    });
    child.stderr?.on('data', keep);
  }

  /** The file of `--tls-cert`, when passed. */
  get certFile(): string | undefined {
    return this.passed.includes('--tls-cert') ? this.passed[this.passed.indexOf('--tls-cert') + 1] : undefined;
  }

  get url(): string {
    return `${this.ca ? 'https' : 'http'}://${LOOPBACK}:${this.port}`;
  }

  /** Where /metrics is: the operations port when there is one, else the main port. */
  get opsUrl(): string {
    return this.opsPort === undefined ? this.url : `http://${LOOPBACK}:${this.opsPort}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts a server with `flags` (pairs of `--flag value`, or a lone `--flag`), passing only those `known`. */
  static async start(dir: string, known: Set<string>, flags: string[] = [], operationsPort = true): Promise<ServerChild> {
    const port = await freePort();
    const passed: string[] = [];
    const skipped: string[] = [];
    for (let i = 0; i < flags.length; i++) {
      const flag = flags[i]!;
      const value = flags[i + 1] !== undefined && !flags[i + 1]!.startsWith('--') ? flags[++i] : undefined;
      if (known.has(flag)) passed.push(flag, ...(value !== undefined ? [value] : []));
      else skipped.push(flag);
    }
    // Older checkouts serve only /metrics on --metrics-port: the operations port is probed only when its --help says it serves /healthz.
    const opsPort = operationsPort && known.has('--metrics-port') && known.has('/healthz') ? await freePort() : undefined;
    const ops = opsPort === undefined ? [] : ['--metrics-port', String(opsPort)];
    const args = ['--import', 'tsx', path.join(dir, 'src/cli/index.ts'), 'serve', '--port', String(port), '--host', LOOPBACK, '--store', 'memory', '--log-level', 'error', ...ops, ...passed];
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: '', NODE_ENV: 'production' } });
    const server = new ServerChild(child, port, opsPort, passed, skipped);
    const deadline = performance.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${server.output.join('\n')}`);
      const r = await request(`${server.url}/healthz`, { timeoutMs: 1000, ...(server.ca ? { ca: server.ca } : {}) }).catch(() => undefined);
      if (r?.status === 200) return server;
      if (performance.now() > deadline) {
        server.kill();
        throw new Error(`the server did not answer /healthz within 30 s:\n${server.output.join('\n')}`);
      }
      await sleep(100);
    }
  }

  /** Kills the child at once (an old server may be gigabytes big and busy for tens of seconds). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  }
}

/** VmRSS of a process every 100 ms: the value just before the attack, the peak since, the latest. */
class RssSampler {
  before = 0;
  peak = 0;
  last = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  /** Marks the start of the attack: `before` is now, the peak starts over. */
  mark(): void {
    this.sample();
    this.before = this.peak = this.last;
  }

  sample(): number {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1] ?? 0);
      this.last = kb * 1024;
      this.peak = Math.max(this.peak, this.last);
    } catch {
      // The process is gone: keep the last values.
    }
    return this.last;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  summary(): string {
    return `RSS before ${bytes(this.before)}, peak ${bytes(this.peak)}, after ${bytes(this.last)}`;
  }
}

/**
 * The prober's own process: /healthz one request at a time on a fresh connection from another
 * loopback address (another client), 50 ms apart, one line per probe (`ok <ms>` or `lost <ms>`),
 * until its stdin closes. A process of its own, so the attack's client work in this process
 * (parsing thousands of answers) does not delay the measurement.
 */
const PROBE_SCRIPT = `
const [url, window, caFile] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
// HTTPS when the main port speaks it (a new handshake per probe), trusting the server's certificate.
const http = require(url.startsWith('https:') ? 'node:https' : 'node:http');
const ca = caFile ? require('node:fs').readFileSync(caFile) : undefined;
let running = true;
process.stdin.on('end', () => (running = false)).resume();
const probe = () => new Promise((resolve) => {
  const req = http.get(url + '/healthz', { agent: false, localAddress: '127.0.0.9', ...(ca ? { ca, servername: 'localhost' } : {}) }, (res) => { res.resume(); res.on('end', () => resolve(true)); res.on('error', () => resolve(false)); });
  req.setTimeout(window, () => req.destroy());
  req.on('error', () => resolve(false));
});
(async () => {
  // A first probe before the attack, not counted: it loads and warms this process's HTTP client,
  // whose first request costs tens of ms that are the prober's own, not the server's.
  await probe();
  process.stdout.write('ready\\n');
  while (running) {
    const started = performance.now();
    const ok = await probe();
    process.stdout.write((ok ? 'ok ' : 'lost ') + (performance.now() - started) + '\\n');
    if (running) await new Promise((r) => setTimeout(r, 50));
  }
  process.exit(0);
})();
`;

/** /healthz probed from a process of its own (PROBE_SCRIPT) until stopped. */
class HealthProbe {
  readonly latencies: number[] = [];
  private unanswered = 0;
  private readonly child: ChildProcess;
  private output = '';
  private readonly exited: Promise<void>;

  /** `caFile`: the certificate to trust when `url` is HTTPS. */
  constructor(url: string, caFile?: string) {
    this.child = spawn(process.execPath, ['-e', PROBE_SCRIPT, url, String(WINDOW_MS), ...(caFile ? [caFile] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.ready = new Promise((resolve) => {
      this.child.stdout!.on('data', (c: Buffer) => {
        this.output += c.toString();
        if (this.output.startsWith('ready\n')) resolve();
      });
      void this.exited.then(() => resolve());
    });
  }

  /** Resolves once the prober's warm-up probe was answered: start the attack then. */
  readonly ready: Promise<void>;

  /** Stops probing: the probe in flight finishes (up to 30 s of age), then the prober exits. */
  async stop(): Promise<void> {
    this.child.stdin!.end();
    await Promise.race([this.exited, sleep(WINDOW_MS + 2000)]);
    this.child.kill('SIGKILL');
    for (const line of this.output.split('\n')) {
      const [kind, value] = line.split(' ');
      if (kind === 'ok') this.latencies.push(Number(value));
      else if (kind === 'lost') this.unanswered = Math.max(this.unanswered, Number(value));
    }
  }

  summary(): string {
    const n = this.latencies.length;
    const max = n ? Math.max(...this.latencies) : 0;
    const med = n ? median(this.latencies) : Number.NaN;
    const maxText = this.unanswered > max ? (this.unanswered >= WINDOW_MS - 1 ? '> 30 s' : `> ${seconds(this.unanswered)} (unanswered at the end)`) : ms(max);
    return `/healthz max ${maxText}, median ${n ? ms(med) : 'n/a'} (${n} answered)`;
  }
}

// --- clients ------------------------------------------------------------------------------------

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestInit {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  localAddress?: string;
  agent?: http.Agent;
  timeoutMs?: number;
  /** For an https URL: the certificate to trust (issued for localhost). */
  ca?: Buffer;
}

/** One HTTP request (a fresh connection unless an agent is given); rejects on error or timeout. */
function request(url: string, init: RequestInit = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).request(
      url,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: init.agent ?? false, ...(init.localAddress ? { localAddress: init.localAddress } : {}), ...(init.ca ? { ca: init.ca, servername: 'localhost' } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.setTimeout(init.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(init.body);
  });
}

function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Answer> {
  return request(url, { ...init, method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...init.headers } });
}

function json<T>(a: Answer): T | undefined {
  try {
    return JSON.parse(a.body) as T;
  } catch {
    return undefined;
  }
}

/** A status (or error) tally: "201×40 429×960". */
class Tally {
  private readonly counts = new Map<string, number>();

  add(key: string | number): void {
    this.counts.set(String(key), (this.counts.get(String(key)) ?? 0) + 1);
  }

  /** Adds every count of `other`. */
  addAll(other: Tally): void {
    for (const [k, n] of other.counts) this.counts.set(k, (this.counts.get(k) ?? 0) + n);
  }

  get(key: string | number): number {
    return this.counts.get(String(key)) ?? 0;
  }

  toString(): string {
    return [...this.counts].map(([k, n]) => `${k}×${n}`).join(' ') || 'none';
  }
}

/** An answer's status and error code, as "429 RATE_LIMITED". */
function statusOf(a: Answer): string {
  const code = json<{ code?: unknown }>(a)?.code;
  return typeof code === 'string' ? `${a.status} ${code}` : String(a.status);
}

/** Runs `f(0..n-1)`, at most `width` at a time, until `deadline` (performance.now()); returns how many ran. */
async function pool(n: number, width: number, deadline: number, f: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n && performance.now() < deadline) await f(next++);
  };
  await Promise.all(Array.from({ length: width }, worker));
  return next;
}

/** A WebSocket client that sorts JSON frames by type (and error code); never throws. */
class FrameCounter {
  readonly ws: WebSocket;
  readonly types = new Tally();
  readonly errors = new Tally();
  readonly frames: Record<string, unknown>[] = [];
  answered = 0;
  closeCode: number | undefined;
  readonly opened: Promise<void>;

  constructor(url: string, options: WebSocket.ClientOptions = {}, keep = false) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    this.ws.on('error', () => {});
    this.ws.on('close', (code) => (this.closeCode = code));
    this.ws.on('message', (data) => {
      let f: Record<string, unknown>;
      try {
        f = JSON.parse(String(data)) as Record<string, unknown>;
      } catch {
        return;
      }
      const type = String(f.type);
      this.types.add(type);
      if (type === 'error') this.errors.add(String(f.code));
      if (type === 'subscribed' || type === 'error' || type === 'ack') this.answered++;
      if (keep) this.frames.push(f);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
  }

  /** The first kept frame matching `pred`, waiting up to `timeoutMs`. */
  async next(pred: (f: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown> | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const f = this.frames.find(pred);
      if (f) return f;
      await sleep(10);
    }
    return undefined;
  }
}

/** The outcome of a WebSocket upgrade: "101" when accepted (then closed), else the refusal's status and code. */
function upgradeOutcome(url: string, options: WebSocket.ClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const t = setTimeout(() => {
      ws.terminate();
      resolve('timeout');
    }, 5000);
    ws.on('error', (err) => {
      clearTimeout(t);
      resolve(`error ${err.message}`);
    });
    ws.on('open', () => {
      clearTimeout(t);
      ws.terminate();
      resolve('101');
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(t);
        ws.removeAllListeners('error');
        ws.on('error', () => {});
        req.destroy();
        resolve(statusOf({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
    });
  });
}

/** Entries of `type` in a room's history (pages of 500 from the newest), at most `maxPages` pages. */
async function countEntries(base: string, room: string, type: string, maxPages = 100): Promise<number> {
  let before: number | undefined;
  let n = 0;
  for (let page = 0; page < maxPages; page++) {
    const r = await request(`${base}/api/rooms/${room}/messages?limit=500${before !== undefined ? `&before=${before}` : ''}`, { timeoutMs: 20_000 });
    const entries = json<{ entries: { type: string; seq: number }[] }>(r)?.entries ?? [];
    if (entries.length === 0) break;
    n += entries.filter((e) => e.type === type).length;
    before = Math.min(...entries.map((e) => e.seq));
    if (before <= 1) break;
  }
  return n;
}

async function roomCount(base: string, pattern?: RegExp): Promise<string> {
  const r = await request(`${base}/api/rooms`, { timeoutMs: 10_000 }).catch(() => undefined);
  const rooms = r ? json<{ rooms: { name: string }[] }>(r)?.rooms : undefined;
  if (!rooms) return 'n/a';
  return String(pattern ? rooms.filter((x) => pattern.test(x.name)).length : rooms.length);
}

// --- formatting ---------------------------------------------------------------------------------

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function bytes(n: number): string {
  return n >= 1024 * MB ? `${(n / 1024 / MB).toFixed(2)} GB` : `${(n / MB).toFixed(0)} MB`;
}

function ms(n: number): string {
  return n >= 1000 ? seconds(n) : `${n.toFixed(n < 10 ? 1 : 0)} ms`;
}

function seconds(n: number): string {
  return `${(n / 1000).toFixed(1)} s`;
}

// --- the items ----------------------------------------------------------------------------------

interface Ctx {
  dir: string;
  known: Set<string>;
}

/** A fresh server, the RSS sampler on it, the item run, the server killed whatever happens. */
async function withServer(c: Ctx, flags: string[], run: (s: ServerChild, rss: RssSampler) => Promise<string>, operationsPort = true): Promise<string> {
  const s = await ServerChild.start(c.dir, c.known, flags, operationsPort);
  const rss = new RssSampler(s.pid);
  try {
    const line = await run(s, rss);
    return `${line}${s.passed.length ? `  [${s.passed.join(' ')}]` : ''}${s.skipped.length ? `  [not known here: ${s.skipped.join(' ')}]` : ''}`;
  } finally {
    rss.stop();
    await s.kill();
  }
}

/**
 * The server's own event-loop delay, max since the last scrape (prom-client's
 * `nodejs_eventloop_lag_max_seconds`, reset by each scrape): what the server made every client
 * wait, told apart from what a busy machine adds to the probe's round trip.
 */
async function loopLagMax(s: ServerChild): Promise<number | undefined> {
  const url = s.opsUrl;
  const text = await new Promise<string>((resolve) => {
    const req = http.get(`${url}/metrics`, { agent: false, localAddress: '127.0.0.9' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.setTimeout(WINDOW_MS, () => req.destroy());
    req.on('error', () => resolve(''));
  });
  const m = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text);
  return m ? Number(m[1]) * 1000 : undefined;
}

/** Runs the attack with RSS marked before it and /healthz probed during it; `health` sums the probes up, and the server's event-loop delay. */
async function attack<T>(s: ServerChild, rss: RssSampler, f: () => Promise<T>): Promise<{ result: T; health: string }> {
  await loopLagMax(s);
  rss.mark();
  // Probes from processes of their own: on the main port (behind whatever the attack queued there) and on the operations port.
  const probes = [new HealthProbe(s.url, s.certFile), ...(s.opsPort === undefined ? [] : [new HealthProbe(s.opsUrl)])];
  await Promise.all(probes.map((p) => p.ready));
  let result: T;
  try {
    result = await f();
  } finally {
    await Promise.all(probes.map((p) => p.stop()));
    rss.sample();
  }
  const lag = await loopLagMax(s);
  const [main, ops] = probes;
  return { result, health: `${main!.summary()}${ops ? `, operations port ${ops.summary().replace('/healthz ', '')}` : ''}, server event-loop delay max ${lag === undefined ? 'n/a' : ms(lag)}` };
}

/** Fills lobby with `count` texts of `size` × U+0001 through the lecture WebSocket (its echo confirms each); returns how many were stored. */
async function fillLobby(s: ServerChild, count: number, size: number): Promise<number> {
  const ws = new WebSocket(`ws://${LOOPBACK}:${s.port}/`, { perMessageDeflate: false });
  ws.on('error', () => {});
  let echoed = 0;
  ws.on('message', (data: Buffer) => {
    if (data.length > size) echoed++;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_q, res) => reject(new Error(`lecture WebSocket refused: ${res.statusCode}`)));
  });
  const text = '\u0001'.repeat(size);
  const deadline = performance.now() + 60_000;
  let sent = 0;
  // Two in flight: the echoes (~6 × size each) stay well under the server's unread-bytes limit.
  while (echoed < count && performance.now() < deadline && ws.readyState === WebSocket.OPEN) {
    while (sent < count && sent - echoed < 2) {
      ws.send(text);
      sent++;
    }
    await sleep(2);
  }
  ws.terminate();
  await sleep(500);
  return echoed;
}

/** Resumes a paused socket and reads its first line (an HTTP status line), waiting up to `timeoutMs`; destroys it. */
function statusLine(so: net.Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let head = '';
    let settled = false;
    const done = (what: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      so.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => done(head.split('\r\n')[0] || `nothing within ${timeoutMs} ms`), timeoutMs);
    so.on('data', (b: Buffer) => {
      head += b.subarray(0, 200).toString('latin1');
      if (head.includes('\r\n')) done(head.split('\r\n')[0]!);
    });
    so.once('close', () => done(head.split('\r\n')[0] || 'closed by the server before any byte'));
    so.resume();
  });
}

/** 1. Six sockets send one GET for 500 entries of ~384 KiB of JSON each, then never read. */
async function item1(c: Ctx, label: string, route: string): Promise<string> {
  const COUNT = 500;
  const SIZE = 64 * 1024;
  const HOLD_MS = 15_000;
  return withServer(c, ['--max-message-bytes', '65536', '--rate-limit', '1000000', '--rate-burst', '1000000', '--retention-count', '10000'], async (s, rss) => {
    const stored = await fillLobby(s, COUNT, SIZE);
    const sockets: net.Socket[] = [];
    let held = '';
    const { result: statusLines, health } = await attack(s, rss, async () => {
      for (let i = 0; i < 6; i++) {
        const so = net.connect({ port: s.port, host: LOOPBACK });
        so.on('error', () => {});
        so.pause();
        so.write(`GET ${route} HTTP/1.1\r\nHost: ${LOOPBACK}:${s.port}\r\n\r\n`);
        sockets.push(so);
      }
      await sleep(HOLD_MS);
      held = bytes(rss.sample());
      // What the server did answer: each socket's status line (read now, for at most 1 s).
      const lines = new Tally();
      for (const line of await Promise.all(sockets.map((so) => statusLine(so, 1000)))) lines.add(JSON.stringify(line));
      return lines;
    });
    for (const so of sockets) so.destroy();
    await sleep(1000);
    const closed = bytes(rss.sample());
    return `${label} GET ${route} on 6 sockets that never read (lobby: ${stored} × 64 KiB "\\u0001"): RSS before ${bytes(rss.before)}, peak ${bytes(rss.peak)}, held ${HOLD_MS / 1000} s later ${held}, 1 s after the sockets closed ${closed}; ${health}; status lines ${statusLines}`;
  });
}

/** 2. 10,000 subscribe-and-create frames on one WebSocket. */
async function item2(c: Ctx): Promise<string> {
  const N = 10_000;
  return withServer(c, [], async (s, rss) => {
    const ws = new FrameCounter(`ws://${LOOPBACK}:${s.port}/api/ws?name=flood`);
    await ws.opened;
    await sleep(200);
    let took = '';
    const { health } = await attack(s, rss, async () => {
      const started = performance.now();
      for (let i = 0; i < N; i++) ws.ws.send(`{"type":"subscribe","room":"r${i}","create":true}`);
      while (ws.answered < N && performance.now() - started < WINDOW_MS && ws.closeCode === undefined) await sleep(20);
      took = ws.answered >= N ? `all ${N} answered in ${seconds(performance.now() - started)}` : `${ws.answered} of ${N} answered within ${seconds(performance.now() - started)}`;
    });
    const rooms = await roomCount(s.url, /^r\d+$/);
    ws.ws.terminate();
    return `2  ${N} {"type":"subscribe","room":"rN","create":true} frames on one WebSocket: ${rss.summary()}; ${health}; ${took}: frames ${ws.types}, errors ${ws.errors}; rooms rN created ${rooms}${ws.closeCode !== undefined ? `; closed ${ws.closeCode}` : ''}`;
  });
}

/** 3. GET polls, each with a fresh connection= and member=: presence joins written to the log. */
async function item3(c: Ctx): Promise<string> {
  const N = 10_500;
  return withServer(c, ['--retention-count', '100000'], async (s, rss) => {
    const joinsBefore = await countEntries(s.url, 'lobby', 'join');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
    const statuses = new Tally();
    let ran = 0;
    let elapsed = 0;
    const { health } = await attack(s, rss, async () => {
      const started = performance.now();
      ran = await pool(N, 50, started + WINDOW_MS, async (i) => {
        const r = await request(`${s.url}/api/rooms/lobby/poll?connection=c${i}-${randomUUID()}&member=m${i}-${randomUUID().slice(0, 8)}&name=n${i}`, { agent }).catch(() => undefined);
        statuses.add(r ? statusOf(r) : 'failed');
      });
      elapsed = performance.now() - started;
    });
    agent.destroy();
    await sleep(1500);
    const joins = (await countEntries(s.url, 'lobby', 'join', 200)) - joinsBefore;
    const info = json<{ lastSeq: number; members: number }>(await request(`${s.url}/api/rooms/lobby`));
    return `3  ${ran} GET /api/rooms/lobby/poll?connection=<fresh>&member=<fresh> in ${seconds(elapsed)} (statuses ${statuses}): join entries written ${joins}, lobby lastSeq ${info?.lastSeq ?? 'n/a'}, members present ${info?.members ?? 'n/a'}; ${rss.summary()}; ${health}`;
  });
}

/** 4. clientId squatting: Mallory publishes clientId "c1" first; then Carol, her own text with "c1". */
async function item4(c: Ctx): Promise<string> {
  return withServer(c, [], async (s, rss) => {
    const url = `${s.url}/api/rooms/lobby/messages`;
    const parts: string[] = [];
    const { health } = await attack(s, rss, async () => {
      const evil = await postJson(url, { text: 'evil', clientId: 'c1', member: 'mallory', name: 'Mallory' }, { localAddress: '127.0.0.2' });
      const carol = await postJson(url, { text: 'hello from carol', clientId: 'c1', member: 'carol', name: 'Carol' }, { localAddress: '127.0.0.3' });
      const e = json<{ seq?: number; duplicate?: boolean }>(evil);
      const k = json<{ seq?: number; duplicate?: boolean }>(carol);
      parts.push(`HTTP: Mallory ${statusOf(evil)} seq ${e?.seq}, Carol ${statusOf(carol)} duplicate:${k?.duplicate} seq ${k?.seq}`);

      const m = new FrameCounter(`ws://${LOOPBACK}:${s.port}/api/ws?member=mallory-ws&name=Mallory`, { localAddress: '127.0.0.2' }, true);
      const w = new FrameCounter(`ws://${LOOPBACK}:${s.port}/api/ws?member=carol-ws&name=Carol`, { localAddress: '127.0.0.3' }, true);
      await Promise.all([m.opened, w.opened]);
      m.ws.send(JSON.stringify({ type: 'publish', id: 'm1', room: 'lobby', text: 'evil ws', clientId: 'w1' }));
      const mAck = await m.next((f) => f.id === 'm1');
      w.ws.send(JSON.stringify({ type: 'publish', id: 'c1', room: 'lobby', text: 'hello from carol ws', clientId: 'w1' }));
      const cAck = await w.next((f) => f.id === 'c1');
      const frame = (f: Record<string, unknown> | undefined): string => (f === undefined ? 'no answer' : f.type === 'ack' ? `ack duplicate:${f.duplicate} seq ${f.seq}` : `${f.type} ${f.code}`);
      parts.push(`WebSocket: Mallory ${frame(mAck)}, Carol ${frame(cAck)}`);
      m.ws.terminate();
      w.ws.terminate();
    });
    const history = json<{ entries: { type: string; text?: string }[] }>(await request(`${url}?limit=500`))?.entries ?? [];
    const stored = (text: string): number => history.filter((x) => x.type === 'message' && x.text === text).length;
    return `4  clientId squatting ("c1" over HTTP, "w1" over WebSocket; Mallory 127.0.0.2, Carol 127.0.0.3): ${parts.join('; ')}; Carol's texts stored: HTTP ${stored('hello from carol')}, WebSocket ${stored('hello from carol ws')}; ${rss.summary()}; ${health}`;
  });
}

/** 5. Publish budgets: a random member per HTTP request; 1 vs 20 WebSockets of one address. */
async function item5(c: Ctx): Promise<string> {
  const N = 1000;
  const FRAMES = 100;
  return withServer(c, [], async (s, rss) => {
    const statuses = new Tally();
    let httpLine = '';
    let wsLine = '';
    const { health } = await attack(s, rss, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
      const started = performance.now();
      await pool(N, 20, started + WINDOW_MS / 2, async (i) => {
        const r = await postJson(`${s.url}/api/rooms/lobby/messages`, { text: `rot ${i}`, member: `m-${randomBytes(6).toString('hex')}` }, { agent }).catch(() => undefined);
        statuses.add(r ? statusOf(r) : 'failed');
      });
      const elapsed = (performance.now() - started) / 1000;
      agent.destroy();
      const accepted = statuses.get(201);
      httpLine = `HTTP, random member each: ${accepted} of ${N} accepted in ${elapsed.toFixed(1)} s (${(accepted / elapsed).toFixed(0)}/s; statuses ${statuses})`;

      const burst = async (conns: number, address: string): Promise<{ acks: number; errors: string; closes: string }> => {
        const clients = Array.from({ length: conns }, (_, i) => new FrameCounter(`ws://${LOOPBACK}:${s.port}/api/ws?member=ws-${i}-${randomUUID().slice(0, 8)}&name=w${i}`, { localAddress: address }));
        const opened = await Promise.allSettled(clients.map((w) => w.opened));
        const open = clients.filter((_, i) => opened[i]!.status === 'fulfilled');
        for (const w of open) for (let k = 0; k < FRAMES; k++) w.ws.send(JSON.stringify({ type: 'publish', id: `p${k}`, room: 'lobby', text: `ws ${k}` }));
        const deadline = performance.now() + 10_000;
        while (open.some((w) => w.answered < FRAMES && w.closeCode === undefined) && performance.now() < deadline) await sleep(20);
        const acks = open.reduce((n, w) => n + w.types.get('ack'), 0);
        const errors = new Tally();
        const closes = new Tally();
        for (const w of open) {
          errors.addAll(w.errors);
          if (w.closeCode !== undefined) closes.add(w.closeCode);
        }
        for (const w of clients) w.ws.terminate();
        return { acks, errors: `${errors}${open.length < conns ? `; ${conns - open.length} refused upgrades` : ''}`, closes: closes.toString() };
      };
      const one = await burst(1, '127.0.0.2');
      const twenty = await burst(20, '127.0.0.3');
      wsLine = `WebSocket, ${FRAMES} publishes per connection at once: 1 connection ${one.acks} acks (errors ${one.errors}), 20 connections of one address ${twenty.acks} acks (errors ${twenty.errors}; closes ${twenty.closes}) = ${(twenty.acks / Math.max(1, one.acks)).toFixed(1)}× one`;
    });
    return `5  publish budgets: ${httpLine}; ${wsLine}; ${rss.summary()}; ${health}`;
  });
}

/** 6. 1,500 idle SSE streams from one address against --max-connections 1000; then another address tries. */
async function item6(c: Ctx): Promise<string> {
  const N = 1500;
  return withServer(c, ['--max-connections', '1000'], async (s, rss) => {
    const streams: http.ClientRequest[] = [];
    const statuses = new Tally();
    const others: string[] = [];
    const { health } = await attack(s, rss, async () => {
      const openSse = (localAddress?: string): Promise<string> =>
        new Promise((resolve) => {
          const req = http.get(`${s.url}/api/rooms/lobby/events`, { agent: false, headers: { accept: 'text/event-stream' }, ...(localAddress ? { localAddress } : {}) }, (res) => {
            if (res.statusCode === 200) {
              res.on('data', () => {});
              res.on('error', () => {});
              streams.push(req);
              resolve('200');
              return;
            }
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (ch: string) => (body += ch));
            res.on('end', () => resolve(statusOf({ status: res.statusCode ?? 0, headers: res.headers, body })));
          });
          req.setTimeout(5000, () => req.destroy(new Error('timeout')));
          req.on('error', (err) => resolve(err.message === 'timeout' ? 'timeout' : 'failed'));
        });
      const started = performance.now();
      await pool(N, 100, started + 20_000, async () => statuses.add(await openSse()));
      await sleep(1000);
      others.push(`SSE ${await openSse('127.0.0.2')}`);
      others.push(`WebSocket ${await upgradeOutcome(`ws://${LOOPBACK}:${s.port}/api/ws`, { localAddress: '127.0.0.2' })}`);
      others.push(`lecture WebSocket ${await upgradeOutcome(`ws://${LOOPBACK}:${s.port}/`, { localAddress: '127.0.0.2' })}`);
      const lp = await request(`${s.url}/api/rooms/lobby/longpoll?timeout=100`, { localAddress: '127.0.0.2' }).catch(() => undefined);
      others.push(`long poll ${lp ? statusOf(lp) : 'failed'}`);
      await sleep(1000);
    });
    for (const r of streams) r.destroy();
    return `6  ${N} idle SSE streams from 127.0.0.1 (--max-connections 1000): admitted ${statuses.get(200)}, statuses ${statuses}; then from 127.0.0.2: ${others.join(', ')}; ${rss.summary()}; ${health}`;
  });
}

/** 7a. 300 concurrent room creations from six addresses against --max-rooms 50. */
async function item7a(c: Ctx, redis?: { url: string; prefix: string }): Promise<string> {
  const flags = ['--max-rooms', '50', ...(redis ? ['--store', 'redis', '--redis', redis.url, '--redis-prefix', redis.prefix] : [])];
  return withServer(c, flags, async (s, rss) => {
    const statuses = new Tally();
    const { health } = await attack(s, rss, async () => {
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const r = await request(`${s.url}/api/rooms/r${i}`, { method: 'PUT', localAddress: `127.0.0.${1 + (i % 6)}` }).catch(() => undefined);
          statuses.add(r ? statusOf(r) : 'failed');
        }),
      );
    });
    return `7a 300 concurrent PUT /api/rooms/rN from 6 addresses, --max-rooms 50, ${redis ? 'Redis' : 'memory'} store: statuses ${statuses}; rooms held ${await roomCount(s.url)} (rN ${await roomCount(s.url, /^r\d+$/)}); ${rss.summary()}; ${health}`;
  });
}

/** 7b. A WebSocket burst of subscribe-and-create frames from three addresses against --max-rooms 50. */
async function item7b(c: Ctx): Promise<string> {
  const PER = 300;
  return withServer(c, ['--max-rooms', '50'], async (s, rss) => {
    const clients = [0, 1, 2].map((k) => new FrameCounter(`ws://${LOOPBACK}:${s.port}/api/ws?name=c${k}`, { localAddress: `127.0.0.${2 + k}` }));
    await Promise.all(clients.map((w) => w.opened));
    await sleep(200);
    const { health } = await attack(s, rss, async () => {
      for (const [k, w] of clients.entries()) for (let i = 0; i < PER; i++) w.ws.send(`{"type":"subscribe","room":"w${k}-${i}","create":true}`);
      const deadline = performance.now() + 20_000;
      while (clients.some((w) => w.answered < PER && w.closeCode === undefined) && performance.now() < deadline) await sleep(20);
    });
    const subscribed = clients.reduce((n, w) => n + w.types.get('subscribed'), 0);
    const errors = clients.map((w) => w.errors.toString()).join(' | ');
    const rooms = await roomCount(s.url);
    for (const w of clients) w.ws.terminate();
    return `7b ${3 * PER} WebSocket subscribe+create frames from 3 addresses, --max-rooms 50, memory store: subscribed ${subscribed}, errors per connection ${errors}; rooms held ${rooms}; ${rss.summary()}; ${health}`;
  });
}

/** 8. DNS rebinding: Origin and Host both the attacker's, against an Origin allowlist. */
async function item8(c: Ctx): Promise<string> {
  return withServer(c, ['--origins', 'http://allowed.example'], async (s, rss) => {
    const out: string[] = [];
    const { health } = await attack(s, rss, async () => {
      const evil = { origin: 'http://evil.example', host: 'evil.example' };
      const h = await request(`${s.url}/api/rooms`, { headers: evil });
      out.push(`rebinding (Origin http://evil.example, Host evil.example): HTTP ${statusOf(h)}${h.headers['access-control-allow-origin'] ? ` ACAO ${h.headers['access-control-allow-origin']}` : ''}`);
      for (const p of ['/api/ws', '/']) out.push(`WebSocket ${p} ${await upgradeOutcome(`ws://${LOOPBACK}:${s.port}${p}`, { origin: evil.origin, headers: { host: evil.host } })}`);
      const plain = await request(`${s.url}/api/rooms`, { headers: { origin: 'http://evil.example' } });
      out.push(`same Origin, true Host: HTTP ${statusOf(plain)}`);
      const ok = await request(`${s.url}/api/rooms`, { headers: { origin: 'http://allowed.example' } });
      out.push(`listed Origin http://allowed.example: HTTP ${statusOf(ok)}, WebSocket /api/ws ${await upgradeOutcome(`ws://${LOOPBACK}:${s.port}/api/ws`, { origin: 'http://allowed.example' })}`);
    });
    return `8  Origin allowlist http://allowed.example: ${out.join('; ')}; ${health}`;
  });
}

/**
 * 9. One client short-polling in a loop (8 keep-alive connections from one address, 5 s), the
 * server at `--log-level info` as `npm start` runs it: what it wrote to its log meanwhile. Before
 * the access log had a budget per address (`--access-log-rate`), a line per request.
 */
async function item9(c: Ctx): Promise<string> {
  const SECONDS = 5;
  return withServer(c, ['--log-level', 'info'], async (s, rss) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const statuses = new Tally();
    let answers = 0;
    const bytesBefore = s.stdoutBytes;
    const linesBefore = s.stdoutLines;
    const { health } = await attack(s, rss, async () => {
      const end = performance.now() + SECONDS * 1000;
      const loop = async (): Promise<void> => {
        while (performance.now() < end) {
          const status = await new Promise<number>((resolve) => {
            http
              .get(`${s.url}/api/rooms/lobby/poll`, { agent }, (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              })
              .on('error', () => resolve(0));
          });
          statuses.add(String(status));
          answers++;
        }
      };
      await Promise.all(Array.from({ length: 8 }, loop));
    });
    agent.destroy();
    await sleep(500);
    const lines = s.stdoutLines - linesBefore;
    return `9  short polls in a loop from one address for ${SECONDS} s, --log-level info: ${answers} answers (${statuses}); the server wrote ${lines} log lines, ${Math.round((s.stdoutBytes - bytesBefore) / 1024)} KiB (${Math.round(lines / SECONDS)} lines/s); ${health}`;
  });
}

/** User + system CPU of a process so far, ms (/proc/<pid>/stat; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Unread counts of 50 rooms of big messages (32 of 64,000 characters each: an unread count
 * reads up to 2 Mi characters a room, 16 Mi a request), asked in a loop by one address for 5 s.
 * The rooms are filled first, over HTTP, with the publish budgets raised.
 */
async function item10(c: Ctx): Promise<string> {
  const SECONDS = 5;
  const ROOMS = 50;
  const flags = ['--rate-limit', '100000', '--rate-burst', '100000', '--create-rate', '1000', '--rooms-per-day', '100000', '--max-rooms', '1000'];
  return withServer(c, flags, async (s, rss) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const call = (method: string, path: string, body?: string): Promise<number> =>
      new Promise((resolve) => {
        const req = http.request(`${s.url}${path}`, { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(0));
        req.end(body);
      });
    const rooms = Array.from({ length: ROOMS }, (_, i) => `big${i}`);
    const text = JSON.stringify({ text: 'lorem ipsum dolor sit amet '.repeat(2400).slice(0, 64_000) });
    let stored = 0;
    for (const room of rooms) {
      await call('PUT', `/api/rooms/${room}`);
      const statuses = await Promise.all(Array.from({ length: 32 }, () => call('POST', `/api/rooms/${room}/messages`, text)));
      stored += statuses.filter((st) => st === 201).length;
    }
    const statuses = new Tally();
    let answers = 0;
    const cpuBefore = cpuMs(s.pid);
    const { health } = await attack(s, rss, async () => {
      const end = performance.now() + SECONDS * 1000;
      while (performance.now() < end) {
        statuses.add(String(await call('GET', `/api/read?rooms=${rooms.join(',')}`)));
        answers++;
      }
    });
    const cpu = cpuMs(s.pid) - cpuBefore;
    agent.destroy();
    return `10 unread counts of ${ROOMS} rooms of 32 messages of 64,000 characters (${stored} stored), asked in a loop by one address for ${SECONDS} s: ${answers} answers (${statuses}); server CPU ${cpu} ms; ${health}`;
  });
}

/**
 * One address asking in a loop on `lanes` keep-alive connections for `seconds`, the request of
 * each turn made by `ask(lane, turn)`, while `attack` watches the server: the statuses, the
 * answers and their bytes, the server CPU spent, and the /healthz probe's line.
 */
async function requestLoop(
  s: ServerChild,
  rss: RssSampler,
  { lanes, seconds }: { lanes: number; seconds: number },
  ask: (agent: http.Agent, lane: number, turn: number) => Promise<Answer>,
): Promise<{ statuses: Tally; answers: number; bytesRead: number; cpu: number; health: string }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: lanes });
  const statuses = new Tally();
  let answers = 0;
  let bytesRead = 0;
  const cpuBefore = cpuMs(s.pid);
  const { health } = await attack(s, rss, async () => {
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let turn = 0; performance.now() < end; turn++) {
          const a = await ask(agent, lane, turn).catch((): Answer => ({ status: 0, headers: {}, body: '' }));
          statuses.add(String(a.status));
          bytesRead += a.body.length;
          answers++;
        }
      }),
    );
  });
  const cpu = cpuMs(s.pid) - cpuBefore;
  agent.destroy();
  return { statuses, answers, bytesRead, cpu, health };
}

/**
 * 11. History pages of 1 MiB (the answer cap), asked in a loop by one address on 8 keep-alive
 * connections for 5 s: what reads that pay no budget make the server spend, and what the
 * /healthz probe (another address) waits meanwhile.
 */
async function item11(c: Ctx): Promise<string> {
  const SECONDS = 5;
  const flags = ['--rate-limit', '100000', '--rate-burst', '100000'];
  return withServer(c, flags, async (s, rss) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const text = JSON.stringify({ text: 'lorem ipsum dolor sit amet '.repeat(100).slice(0, 2_000) });
    let stored = 0;
    for (let i = 0; i < 10; i++) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => request(`${s.url}/api/rooms/lobby/messages`, { method: 'POST', body: text, headers: { 'content-type': 'application/json' }, agent })));
      stored += answers.filter((a) => a.status === 201).length;
    }
    agent.destroy();
    const { statuses, answers, bytesRead, cpu, health } = await requestLoop(s, rss, { lanes: 8, seconds: SECONDS }, (agent) => request(`${s.url}/api/rooms/lobby/messages?limit=500`, { agent }));
    return `11 history pages of 500 messages of 2,000 characters (${stored} stored), asked in a loop by one address on 8 connections for ${SECONDS} s: ${answers} answers (${statuses}), ${bytes(bytesRead)} of them; server CPU ${cpu} ms; ${health}`;
  });
}

/**
 * 12. Forged tokens (a real token's header and claims, its signature changed), one per request,
 * asked in a loop by one address on 8 keep-alive connections for 5 s against a server with a
 * token key: each makes the server run a signature verification, where a plain request costs
 * a few tens of µs. Reports the answers, the server CPU and the /healthz probe.
 */
async function item12(c: Ctx): Promise<string> {
  const SECONDS = 5;
  const secret = randomBytes(32).toString('base64url');
  const { mintToken } = await import(path.join(c.dir, 'src/server/auth/mint-token.ts'));
  const real = (await mintToken(secret, { sub: 'ann', rooms: { lobby: ['read'] }, ttlSec: 600 })) as string;
  const [head, body, sig] = real.split('.');
  return withServer(c, ['--jwt-secret', secret, '--guests', 'read'], async (s, rss) => {
    const { statuses, answers, cpu, health } = await requestLoop(s, rss, { lanes: 8, seconds: SECONDS }, (agent, lane, turn) => {
      const forged = `${head}.${body}.${sig!.slice(0, -8)}${String(100_000_000 + lane * 10_000_000 + turn).slice(-8)}`;
      return request(`${s.url}/api/rooms/lobby/messages?limit=1`, { agent, headers: { authorization: `Bearer ${forged}` } });
    });
    return `12 forged tokens (HS256, a new signature each), asked in a loop by one address on 8 connections for ${SECONDS} s: ${answers} answers (${statuses}); server CPU ${cpu} ms (${((cpu * 1000) / Math.max(1, answers)).toFixed(0)} µs an answer); ${health}`;
  });
}

/**
 * 13. Scrapes of /metrics on the main port (no --metrics-token: anyone may; no operations port,
 * which would take /metrics off it), asked in a loop by one address on 4 keep-alive connections
 * for 5 s: each is a collection of every metric.
 */
async function item13(c: Ctx): Promise<string> {
  const SECONDS = 5;
  return withServer(c, [], async (s, rss) => {
    const { statuses, answers, cpu, health } = await requestLoop(s, rss, { lanes: 4, seconds: SECONDS }, (agent) => request(`${s.url}/metrics`, { agent }));
    return `13 scrapes of /metrics on the main port, asked in a loop by one address on 4 connections for ${SECONDS} s: ${answers} answers (${statuses}); server CPU ${cpu} ms; ${health}`;
  }, false);
}

/**
 * 14. TLS handshakes (`--tls-cert`, a self-signed P-256 certificate), one per new connection, in
 * a loop by one address on 8 lanes for 10 s: each connection is closed once its handshake is done,
 * before any request, so nothing the routes bound is reached. Reports the handshakes completed,
 * the connections refused before theirs, the server CPU in each half of the window (the second:
 * once a budget's burst is spent), and the probes (the main port's over HTTPS: a handshake each).
 */
async function item14(c: Ctx, flags: string[] = []): Promise<string> {
  const SECONDS = 10;
  const dir = mkdtempSync(path.join(tmpdir(), 'sb-abuse-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  try {
    return await withServer(c, ['--tls-cert', cert, '--tls-key', key, ...flags], async (s, rss) => {
      const outcomes = new Tally();
      const cpuBefore = cpuMs(s.pid);
      let cpuHalf = 0;
      let doneHalf = 0;
      const { health } = await attack(s, rss, async () => {
        const end = performance.now() + SECONDS * 1000;
        const half = setTimeout(() => {
          cpuHalf = cpuMs(s.pid);
          doneHalf = outcomes.get('handshake');
        }, (SECONDS * 1000) / 2);
        const handshake = (): Promise<string> =>
          new Promise((resolve) => {
            const socket = tls.connect({ socket: net.connect({ host: LOOPBACK, port: s.port, localAddress: LOOPBACK }), servername: 'localhost', ca: s.ca });
            socket.once('secureConnect', () => {
              socket.destroy();
              resolve('handshake');
            });
            socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
            socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
          });
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (performance.now() < end) outcomes.add(await handshake());
          }),
        );
        clearTimeout(half);
      });
      const cpu = cpuMs(s.pid) - cpuBefore;
      const done = outcomes.get('handshake');
      return `14 TLS connections closed once their handshake is done, opened in a loop by one address on 8 lanes for ${SECONDS} s: ${outcomes}; server CPU ${cpu} ms (first half ${cpuHalf - cpuBefore} ms with ${doneHalf} handshakes, second half ${cpuBefore + cpu - cpuHalf} ms with ${done - doneHalf}); ${health}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Deletes every key under `prefix` (the Redis run of item 7a). */
async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

// --- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const i = process.argv.indexOf('--server-dir');
  const dir = path.resolve(i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : repoDir);
  let commit = 'not a git checkout';
  try {
    commit = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    if (dirty) commit += `, with uncommitted changes in ${dirty.split('\n').length} files of src/`;
  } catch {
    // Not a git checkout: fine.
  }
  const c: Ctx = { dir, known: knownFlags(dir) };
  console.log(`Switchboard abuse reproductions against ${dir} (${commit}); node ${process.version}; one fresh server per item (memory store, --host 127.0.0.1, --log-level error), killed after it`);
  const items: [string, () => Promise<string>][] = [
    ['1a', () => item1(c, '1a', '/api/rooms/lobby/messages?limit=500')],
    ['1b', () => item1(c, '1b', '/api/rooms/lobby/poll?after=0&limit=500')],
    ['2', () => item2(c)],
    ['3', () => item3(c)],
    ['4', () => item4(c)],
    ['5', () => item5(c)],
    ['6', () => item6(c)],
    ['7a', () => item7a(c)],
    ['7b', () => item7b(c)],
  ];
  const redisUrl = process.env.REDIS_URL;
  if (redisUrl) {
    const prefix = `sbabuse-${randomBytes(4).toString('hex')}:`;
    items.push([
      '7a-redis',
      async () => {
        let line: string;
        try {
          line = await item7a(c, { url: redisUrl, prefix });
        } catch (err) {
          line = `7a FAILED on Redis: ${(err as Error).message.split('\n')[0]}`;
        }
        const n = await deleteRedisKeys(redisUrl, prefix).catch((err: Error) => `none (failed: ${err.message})`);
        return `${line}; deleted ${n} Redis keys under ${prefix}`;
      },
    ]);
  }
  items.push(['8', () => item8(c)]);
  items.push(['9', () => item9(c)]);
  items.push(['10', () => item10(c)]);
  items.push(['11', () => item11(c)]);
  items.push(['12', () => item12(c)]);
  items.push(['13', () => item13(c)]);
  items.push(['14', () => item14(c)]);
  items.push(['14-rate1', () => item14(c, ['--tls-handshake-rate', '1'])]);
  const only = process.argv.indexOf('--only');
  const chosen = only >= 0 ? new Set((process.argv[only + 1] ?? '').split(',')) : undefined;
  for (const [name, run] of items) {
    if (chosen && !chosen.has(name)) continue;
    const started = performance.now();
    let line: string;
    try {
      line = await run();
    } catch (err) {
      line = `${name} FAILED: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`;
    }
    console.log(`${line}  (${seconds(performance.now() - started)})`);
  }
}

await main();
process.exit(0);
