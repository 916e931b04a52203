import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { spawnRedis, stopProcesses, withClient } from './redis-processes.js';

/** The name the sentinels monitor the master under. */
export const MASTER_NAME = 'sbmaster';

/**
 * A real Redis Sentinel deployment of the machine's `redis-server`, on ports free at start, in a
 * temporary folder, without persistence: a master, its replicas (one unless `start` is asked for
 * more) and one sentinel watching them (quorum 1, the master judged down after 1 s). After a
 * failover the old master becomes the new one's replica once the sentinel next looks at it, some
 * 10 s later; with two replicas, the other replica follows the new master within a second.
 * `failover` asks the sentinel for a failover and
 * resolves once a replica is the master and has a replica of its own; `stop` kills everything and
 * removes the folder (also when `start` fails half-way).
 */
export class RedisSentinel {
  private readonly children: ChildProcess[] = [];

  /** The data nodes: the first starts as the master, the others as its replicas. */
  readonly ports: number[] = [];
  /** The sentinel's port (0 until it is started). */
  sentinelPort = 0;

  private constructor(private readonly dir: string) {}

  /** `redis-sentinel://127.0.0.1:<sentinel>/<master name>`. */
  get url(): string {
    return `redis-sentinel://127.0.0.1:${this.sentinelPort}/${MASTER_NAME}`;
  }

  static async start(replicas = 1): Promise<RedisSentinel> {
    const sentinel = new RedisSentinel(await mkdtemp(join(tmpdir(), 'switchboard-sentinel-')));
    try {
      await sentinel.spawnData();
      const master = sentinel.ports[0]!;
      for (let i = 0; i < replicas; i++) await sentinel.spawnData(master);
      for (const port of sentinel.ports.slice(1)) await waitFor(port, async (r) => /master_link_status:up/.test(await r.info('replication')), 'replica in sync');
      // A sentinel rewrites its config file: one of its own, in the folder, written for each port tried.
      const conf = join(sentinel.dir, 'sentinel.conf');
      const started = await spawnRedis((port) => {
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${sentinel.dir}`,
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 1`,
            `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
            `sentinel failover-timeout ${MASTER_NAME} 10000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        return [conf, '--sentinel', '--logfile', join(sentinel.dir, 'sentinel.log')];
      });
      sentinel.children.push(started.child);
      sentinel.sentinelPort = started.port;
      const ports = sentinel.ports;
      // Ready once the sentinel knows the replicas well enough to promote one: connected, in sync,
      // and their INFO fresh (a sentinel promotes none whose INFO is older than 5 s: NOGOODSLAVE).
      await waitFor(sentinel.sentinelPort, async (r) => {
        const replicas = ((await r.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][]).map(fieldsOf);
        return replicas.length === ports.length - 1 && replicas.every((f) => f.flags === 'slave' && f['master-link-status'] === 'ok' && Number(f['info-refresh']) < 3000);
      }, 'the sentinel knows the replicas');
      return sentinel;
    } catch (err) {
      await sentinel.stop();
      throw err;
    }
  }

  /** The port of the current master, as the sentinel says. */
  async masterPort(): Promise<number> {
    const addr = await withClient(this.sentinelPort, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME) as Promise<[string, string]>);
    return Number(addr[1]);
  }

  /**
   * A failover ordered from the sentinel (`SENTINEL FAILOVER`: a replica is promoted; the master
   * is not told to stop taking writes, so a client that keeps writing to it until it learns of
   * the failover writes what the promoted replica never gets). Resolves with the new master's
   * port once it is master and has a replica in sync.
   */
  async failover(): Promise<number> {
    const before = await this.masterPort();
    await withClient(this.sentinelPort, (r) => r.call('SENTINEL', 'FAILOVER', MASTER_NAME));
    let after = before;
    await waitFor(this.sentinelPort, async () => (after = await this.masterPort()) !== before, 'the sentinel names a new master');
    // In sync with as many replicas as it had (the old master among them once the sentinel turned it: some 10 s).
    const replicas = new RegExp(`role:master[\\s\\S]*connected_slaves:${this.ports.length - 1}`);
    await waitFor(after, async (r) => replicas.test(await r.info('replication')) && !/state=(wait_bgsave|send_bulk)/.test(await r.info('replication')), 'the new master with every replica in sync', 900);
    return after;
  }

  /** Kills every process (SIGKILL) and removes the folder. Safe to call twice. */
  async stop(): Promise<void> {
    await stopProcesses(this.children, this.dir);
  }

  private async spawnData(replicaOf?: number): Promise<void> {
    const args = (port: number): string[] => ['--port', String(port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--logfile', `redis-${port}.log`, ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : [])];
    const { port, child } = await spawnRedis(args);
    this.children.push(child);
    this.ports.push(port);
  }
}

/** A sentinel's `[name, value, name, value, ...]` as an object. */
function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Resolves once `check` holds on the server at `port` (errors count as not yet), polled every 50 ms for up to `tries`. */
async function waitFor(port: number, check: (redis: Redis) => Promise<boolean>, what: string, tries = 300): Promise<void> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      if (await withClient(port, check)) return;
    } catch (err) {
      last = err;
    }
    await sleep(50);
  }
  throw new Error(`${what}: not after ${(tries * 50) / 1000} s${last ? ` (${String(last)})` : ''}`);
}
