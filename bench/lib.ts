import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface Stats {
  cpuMicros: number;
  rss: number;
  heapUsed: number;
  external: number;
}

/** A server under test in its own process, so its CPU time and memory are its own. */
export class ServerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(script: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const child = fork(path.join(here, 'servers', script), [], {
      // BENCH_SERVER_NODE_ARGS: flags for node itself (V8 flags to compare, say), as for bench/load's servers.
      execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)],
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

  stats(): Promise<Stats> {
    return new Promise((resolve) => {
      const onMessage = (m: Partial<Stats>): void => {
        if (m.cpuMicros === undefined) return;
        this.child.off('message', onMessage);
        resolve(m as Stats);
      };
      this.child.on('message', onMessage);
      this.child.send({ cmd: 'stats' });
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
