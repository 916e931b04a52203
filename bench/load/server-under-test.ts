import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serverNodeArgs } from '../lib.js';
import { cpuMsOf, processTree, rssOf } from './proc-stats.js';
import { REPO_ROOT } from '../repo-root.js';

const root = REPO_ROOT;
/**
 * The built CLI: the bench runs the server as users do, so `--workers` forks real processes.
 * BENCH_SERVER_CLI names another build of it (another checkout's dist/src/cli/index.js).
 */
export const CLI = process.env.BENCH_SERVER_CLI ?? path.join(root, 'dist', 'src', 'cli', 'index.js');

/**
 * Options that let the load through: every bench client comes from a few loopback addresses,
 * so the per-address caps and budgets (200 connections, 20 connects/s, 20 subscribes/s,
 * 20 publishes/s per guest address) would refuse the load itself. The bench's own
 * `--server-args` come after these and win.
 */
export function loadFriendlyArgs(connections: number): string[] {
  const caps = String(Math.max(connections + 1000, 10_000));
  return [
    '--max-connections', caps,
    '--max-connections-per-address', caps,
    '--max-connections-per-member', caps,
    '--connect-rate', '1000000',
    '--subscribe-rate', '1000000',
    '--read-rate', '1000000',
    '--rate-limit', '1000000',
    '--rate-burst', '1000000',
    '--create-rate', '1000000',
    '--rooms-per-day', '100000000',
    '--max-rooms', '100000',
  ];
}

/** Servers started and not yet stopped: killed when the bench process exits, however it ends. */
const running = new Set<ServerUnderTest>();
process.once('exit', () => {
  for (const s of running) for (const pid of s.pids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * A server under test in a process tree of its own (a primary and its workers, or one process):
 * started from a command line, ready once `readyPath` answers 200. Its memory and CPU are read
 * from /proc over the whole tree.
 */
export class ServerUnderTest {
  private stderr = '';
  private exited: { code: number | null; signal: string | null } | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly commandLine: string,
    private readonly cleanup: () => void,
  ) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => {
      this.stderr = (this.stderr + c).slice(-4000);
      if (process.env.BENCH_SERVER_STDERR) process.stderr.write(c);
    });
    child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      running.delete(this);
    });
    running.add(this);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Starts Switchboard's built CLI (`serve`) on a free port of 127.0.0.1, logs at `warn`, a
   * SQLite folder of its own (removed on stop), then `args`. Throws with the server's stderr
   * when it exits or is not ready within 30 s; throws when dist/ was not built.
   */
  static async switchboard(args: string[]): Promise<ServerUnderTest> {
    if (!existsSync(CLI)) throw new Error(`${path.relative(process.cwd(), CLI)} is missing: run \`npm run build\` first`);
    const port = await freePort();
    const dataDir = mkdtempSync(path.join(tmpdir(), 'sb-bench-'));
    const full = ['serve', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', '--data-dir', dataDir, ...args];
    // BENCH_SERVER_NODE_ARGS: flags for node itself, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (workers inherit them);
    // unset, those `npm start` runs it with.
    const nodeArgs = serverNodeArgs('switchboard');
    return ServerUnderTest.spawn(process.execPath, [...nodeArgs, CLI, ...full], port, `node ${nodeArgs.join(' ')} switchboard ${full.join(' ')}`, '/readyz', {}, () => rmSync(dataDir, { recursive: true, force: true }));
  }

  /** Starts a script of bench/servers (a `.ts` one through tsx) that listens on PORT and answers `/healthz`. */
  static async script(script: string, env: Record<string, string> = {}): Promise<ServerUnderTest> {
    const port = await freePort();
    const file = path.join(root, 'bench', 'servers', script);
    // tsx for TypeScript only: a peer in plain JavaScript carries no loader of tsx's, as Switchboard's built server does not.
    const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
    return ServerUnderTest.spawn(process.execPath, [...loader, file], port, `node ${[...loader, `bench/servers/${script}`].join(' ')}`, '/healthz', { ...env, PORT: String(port) }, () => {});
  }

  private static async spawn(cmd: string, args: string[], port: number, line: string, readyPath: string, env: Record<string, string>, cleanup: () => void): Promise<ServerUnderTest> {
    // BENCH_SERVER_STDOUT=file: the server's stdout (its workers' too) appended there, e.g. what node's --trace-gc prints.
    const out = process.env.BENCH_SERVER_STDOUT ? openSync(process.env.BENCH_SERVER_STDOUT, 'a') : 'ignore';
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', out, 'pipe'] });
    if (typeof out === 'number') closeSync(out);
    const server = new ServerUnderTest(child, port, line, cleanup);
    const deadline = Date.now() + 30_000;
    while (!(await server.answers(readyPath))) {
      if (server.exited) {
        cleanup();
        throw new Error(`the server exited (code ${server.exited.code}) before it was ready: ${server.stderr.trim().slice(-600) || 'no output'}\n  command: ${line}`);
      }
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`the server was not ready within 30 s: ${server.stderr.trim().slice(-600)}\n  command: ${line}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return server;
  }

  /** True when GET `path` answers 200. */
  answers(pathname: string): Promise<boolean> {
    return new Promise((resolve) => {
      const req = net.connect(this.port, '127.0.0.1');
      req.setTimeout(2000, () => req.destroy());
      let head = '';
      req.on('connect', () => req.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
      req.on('data', (c) => (head += c.toString()));
      req.on('close', () => resolve(/^HTTP\/1\.1 200/.test(head)));
      req.on('error', () => resolve(false));
    });
  }

  /**
   * The server's garbage-collection pauses so far, ms: `nodejs_gc_duration_seconds_sum` of its
   * /metrics, summed over the workers (a worker answers with all of theirs), in all and by kind
   * (`minor`, `major`, `incremental`, `weakcb`). Time the main threads stood still for the
   * collector; concurrent marking on helper threads is not in it. Undefined when /metrics does
   * not answer or has no such line (`--no-metrics`).
   */
  async gcPauseMs(): Promise<{ total: number; byKind: Record<string, number> } | undefined> {
    try {
      const res = await fetch(`${this.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) return undefined;
      let total: number | undefined;
      const byKind: Record<string, number> = {};
      for (const m of (await res.text()).matchAll(/^nodejs_gc_duration_seconds_sum\{([^}]*)\} ([\d.e+-]+)$/gm)) {
        const ms = Number(m[2]) * 1000;
        total = (total ?? 0) + ms;
        const kind = /kind="([^"]*)"/.exec(m[1]!)?.[1] ?? 'other';
        byKind[kind] = (byKind[kind] ?? 0) + ms;
      }
      return total === undefined ? undefined : { total, byKind };
    } catch {
      return undefined;
    }
  }

  /** The primary (or only) process and every process below it, now. */
  pids(): number[] {
    return this.exited || this.child.pid === undefined ? [] : processTree(this.child.pid);
  }

  /** Resident memory of the whole tree, bytes. */
  rss(): number {
    return rssOf(this.pids());
  }

  /** CPU time used so far by the processes of the tree now alive, ms. */
  cpuMs(pids = this.pids()): number {
    return cpuMsOf(pids);
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL to the tree after 10 s; removes the server's data folder. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const pids = this.pids();
      const done = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    running.delete(this);
    this.cleanup();
  }
}

/** The processes under the server's primary (its workers and what they started); empty for a single-process server. */
export function workersOf(server: ServerUnderTest): number[] {
  return server.pids().filter((pid) => pid !== server.child.pid);
}
