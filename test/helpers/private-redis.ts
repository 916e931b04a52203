import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnRedis, waitForOwn } from './redis-processes.js';

/** Why a private redis-server cannot be started here, or undefined when it can. */
export function privateRedisSkipReason(suite: string): string | undefined {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return undefined;
  const reason = 'no redis-server binary on PATH';
  if (process.env.CI === 'true') return undefined;
  console.warn(`SKIPPED: ${suite} because ${reason}.`);
  return reason;
}

/**
 * A redis-server of the test's own, on a free port, that the test may kill and restart (an
 * outage) without disturbing anything else. Data persists across restarts (AOF, fsync always).
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-redis-'));
    const { port, child } = await spawnRedis((port) => PrivateRedis.args(port, dir));
    const server = new PrivateRedis(port, dir);
    server.child = child;
    return server;
  }

  private static args(port: number, dir: string): string[] {
    return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
  }

  /** Starts the server again on its port and resolves once it answers there. */
  async restart(): Promise<void> {
    this.child = spawn('redis-server', PrivateRedis.args(this.port, this.dir), { stdio: 'ignore' });
    await waitForOwn(this.port, this.child);
  }

  /** Kills the server at once (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
