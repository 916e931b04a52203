import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './private-redis.js';
import { stopProcesses, waitForPing, withClient } from './redis-processes.js';

/** Why a private Redis Cluster cannot be started here, or undefined when it can (under CI=true: never skipped). */
export function redisClusterSkipReason(suite: string): string | undefined {
  const missing = ['redis-server', 'redis-cli'].filter((bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).status !== 0);
  if (missing.length === 0 || process.env.CI === 'true') return undefined;
  const reason = `no ${missing.join(' or ')} binary on PATH`;
  console.warn(`SKIPPED: ${suite} because ${reason}.`);
  return reason;
}

/**
 * A real Redis Cluster of three masters (no replicas), made of the machine's `redis-server` on
 * ports free at start, each in a temporary folder, without persistence. `stop` kills them and
 * removes the folders; it is also run when `start` fails half-way, so nothing is left behind.
 */
export class RedisCluster {
  private readonly children: ChildProcess[] = [];

  private constructor(
    readonly ports: number[],
    private readonly dir: string,
  ) {}

  /** `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  get url(): string {
    return `redis-cluster://${this.ports.map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  static async start(masters = 3): Promise<RedisCluster> {
    const ports: number[] = [];
    // Cluster nodes also listen on port + 10000 (the cluster bus): both must be free.
    while (ports.length < masters) {
      const port = await freePort();
      if (port + 10_000 < 65_536 && !ports.includes(port)) ports.push(port);
    }
    const cluster = new RedisCluster(ports, await mkdtemp(join(tmpdir(), 'switchboard-cluster-')));
    try {
      for (const port of ports) cluster.spawnNode(port);
      await Promise.all(ports.map((port) => waitForPing(port)));
      const created = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
      if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      await Promise.all(ports.map((port) => waitForClusterOk(port)));
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Kills every node (SIGKILL) and removes their folders. Safe to call twice. */
  async stop(): Promise<void> {
    await stopProcesses(this.children, this.dir);
  }

  private spawnNode(port: number): void {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000',
      '--save', '', '--appendonly', 'no', '--logfile', `redis-${port}.log`,
    ];
    this.children.push(spawn('redis-server', args, { stdio: 'ignore' }));
  }
}

/** Resolves once the node says `cluster_state:ok` (every slot served). */
async function waitForClusterOk(port: number): Promise<void> {
  for (let i = 0; ; i++) {
    const info = await withClient(port, (r) => r.cluster('INFO') as Promise<string>);
    if (/cluster_state:ok/.test(info)) return;
    if (i > 200) throw new Error(`node ${port}: cluster_state not ok after 10 s:\n${info}`);
    await sleep(50);
  }
}
