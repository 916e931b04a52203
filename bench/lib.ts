import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { DEFAULT_V8_FLAGS } from '../src/server/v8-flags.js';
import WebSocket from 'ws';
import { BENCH_DIR } from './repo-root.js';

const here = BENCH_DIR;

export interface Stats {
  cpuMicros: number;
  rss: number;
  heapUsed: number;
  external: number;
  /** JavaScript heap bytes allocated since the server started (bench/servers/allocations.mjs). */
  allocatedBytes?: number;
  /** Bytes minor GCs promoted to the old generation since the server started. */
  promotedBytes?: number;
  /** Microseconds the server's GCs took on its main thread since it started. */
  gcMicros?: number;
}

/**
 * Node's flags for a bench server: BENCH_SERVER_NODE_ARGS when set (even empty); else, for
 * Switchboard, the V8 flags `npm start` runs it with (src/server/v8-flags.ts), and none for the
 * peers, which run as their users run them.
 */
export function serverNodeArgs(script: string): string[] {
  const given = process.env.BENCH_SERVER_NODE_ARGS;
  if (given !== undefined) return given.split(/\s+/).filter(Boolean);
  if (!/switchboard/i.test(script)) return [];
  // BENCH_SWITCHBOARD_NODE_ARGS: node's flags for Switchboard's servers only (the peers keep node's defaults).
  const mine = process.env.BENCH_SWITCHBOARD_NODE_ARGS;
  return mine !== undefined ? mine.split(/\s+/).filter(Boolean) : [...DEFAULT_V8_FLAGS];
}

/** An allocation site of what a server left in the old generation (bench/servers/old-garbage.mjs): bytes, and its three innermost frames. */
export interface OldGarbageSite {
  bytes: number;
  where: string;
}

/** A server under test in its own process, so its CPU time and memory are its own. */
export class ServerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(script: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    // The built server (bench/costs/switchboard-built-server.mjs) imports dist/: said in one line, not as a module-resolution stack.
    const built = path.resolve(here, '..', 'dist', 'src', 'server', 'server.js');
    if (script.endsWith('built-server.mjs') && !existsSync(built)) throw new Error(`${path.relative(process.cwd(), built)} is missing: run \`npm run build\` first`);
    const child = fork(path.resolve(here, 'servers', script), [], {
      // BENCH_SERVER_NODE_ARGS: flags for node itself (V8 flags to compare, say), as for bench/load's servers.
      // tsx for TypeScript only: a server in plain JavaScript (the built Switchboard, as `npm start`
      // runs it) carries no loader thread of tsx's, which runs GCs of its own heap.
      // BENCH_PROFILE=dir: a CPU profile of each server there; BENCH_PROFILE_INTERVAL: its sampling interval, µs (node's default 1000).
      // BENCH_PERF_MAP=1: node writes /tmp/perf-<pid>.map, the names of its compiled JavaScript for Linux perf (costs/perf-samples.ts).
      execArgv: [...(script.endsWith('.ts') ? ['--import', 'tsx'] : []), '--expose-gc', ...(process.env.BENCH_PERF_MAP === '1' ? ['--perf-basic-prof'] : []), ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`, ...(process.env.BENCH_PROFILE_INTERVAL ? [`--cpu-prof-interval=${process.env.BENCH_PROFILE_INTERVAL}`] : [])] : []), ...serverNodeArgs(script)],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
      const onMessage = (m: { port?: number }): void => {
        if (m.port !== undefined) {
          child.off('message', onMessage);
          resolve(m.port);
        }
      };
      child.on('message', onMessage);
    });
    child.removeAllListeners('exit');
    return new ServerProcess(child, port);
  }

  /** What the server says of itself; after a full GC unless `gc` is false (a forced GC promotes what is young, changing what follows). */
  stats(options: { gc?: boolean } = {}): Promise<Stats> {
    return new Promise((resolve) => {
      const onMessage = (m: Partial<Stats>): void => {
        if (m.cpuMicros === undefined) return;
        this.child.off('message', onMessage);
        resolve(m as Stats);
      };
      this.child.on('message', onMessage);
      this.child.send({ cmd: 'stats', gc: options.gc ?? true });
    });
  }

  /**
   * Starts (`start`) or reads and ends (`stop`) the server's sampling of what it leaves in the old
   * generation (bench/servers/old-garbage.mjs); `stop` resolves with the top allocation sites.
   */
  oldGarbage(action: 'start' | 'stop'): Promise<OldGarbageSite[]> {
    return new Promise((resolve) => {
      const onMessage = (m: { oldGarbage?: OldGarbageSite[] }): void => {
        if (m.oldGarbage === undefined) return;
        this.child.off('message', onMessage);
        resolve(m.oldGarbage);
      };
      this.child.on('message', onMessage);
      this.child.send({ cmd: 'old-garbage', action });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(3000)]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Opens a WebSocket and resolves once open. */
export function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Opens an SSE stream; calls `onData` with each chunk. Resolves once the headers came. */
export function openSse(url: string, onData: (chunk: string) => void): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', onData);
      resolve(req);
    });
    req.on('error', reject);
  });
}

/**
 * An SSE stream that only records what arrives, and when: each read from the socket with its
 * time, nothing parsed. For latency benches where one process reads hundreds of streams: a
 * client that parses as it reads (an HTTP response stream per client, string concatenation, a
 * regex per event) takes as much CPU per delivery as the server, and the streams it reads last
 * wait for it, which a real client (one per machine) never does. Parse after the run with
 * `events()`. HTTP/1.1 by hand (a GET, then a chunked or close-delimited body).
 */
export class SseRecorder {
  private readonly reads: { t: number; data: Buffer }[] = [];
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => this.reads.push({ t: performance.now(), data }));
  }

  /** Opens the stream at `path` of 127.0.0.1:`port`; resolves once the answer's first bytes came. */
  static open(port: number, path: string): Promise<SseRecorder> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.setNoDelay(true);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
      });
      const recorder = new SseRecorder(socket);
      socket.once('data', () => resolve(recorder));
      socket.once('error', reject);
    });
  }

  /** Forgets what came so far (a warm-up's events): later `events()` start after it. */
  clear(): void {
    this.events();
    this.reads.length = 0;
  }

  private head = true;
  private chunked = false;
  private left = -1; // data bytes left in the current chunk; -1 while reading a size line
  private skip = 0; // bytes of the chunk's closing CRLF still to drop
  private pending = ''; // undecoded framing: a partial head or size line
  private body = ''; // decoded body not yet split into events (latin1: one char per byte)

  /** The events of the reads so far, each with the time of the read that completed it (raw event text, latin1). */
  events(): { t: number; text: string }[] {
    const out: { t: number; text: string }[] = [];
    for (const { t, data } of this.reads) {
      this.decode(data.toString('latin1'));
      let idx: number;
      while ((idx = this.body.indexOf('\n\n')) >= 0) {
        out.push({ t, text: this.body.slice(0, idx) });
        this.body = this.body.slice(idx + 2);
      }
    }
    this.reads.length = 0;
    return out;
  }

  private decode(text: string): void {
    let s = this.pending + text;
    this.pending = '';
    if (this.head) {
      const end = s.indexOf('\r\n\r\n');
      if (end < 0) {
        this.pending = s;
        return;
      }
      this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(s.slice(0, end));
      this.head = false;
      s = s.slice(end + 4);
    }
    if (!this.chunked) {
      this.body += s;
      return;
    }
    while (s.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, s.length);
        this.skip -= n;
        s = s.slice(n);
      } else if (this.left === -1) {
        const eol = s.indexOf('\r\n');
        if (eol < 0) {
          this.pending = s;
          return;
        }
        this.left = parseInt(s.slice(0, eol), 16);
        s = s.slice(eol + 2);
      } else {
        const n = Math.min(this.left, s.length);
        this.body += s.slice(0, n);
        this.left -= n;
        s = s.slice(n);
        if (this.left === 0) {
          this.left = -1;
          this.skip = 2;
        }
      }
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A keep-alive HTTP GET returning the parsed JSON body. */
export function getJson<T>(url: string, agent: http.Agent): Promise<T> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(err as Error);
          }
        });
      })
      .on('error', reject);
  });
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}
