import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** Kills `children` (SIGKILL), waits for them to exit, and removes their folder. Safe to call twice. */
export async function stopProcesses(children: readonly ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  await rm(dir, { recursive: true, force: true });
}

/** Runs `fn` with a client of the redis-server (or sentinel) at 127.0.0.1:`port`, then disconnects it. */
export async function withClient<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** A spawned server exited before it answered: it could not listen, its port taken meanwhile. */
export class ExitedBeforeReady extends Error {}

/**
 * Resolves once the server at `port` is `child` itself: its INFO's `process_id` is the child's
 * pid (another test file's server on the same port does not count), asked every 50 ms for up to
 * 10 s. Rejects with ExitedBeforeReady as soon as the child exits first (it could not listen).
 */
export async function waitForOwn(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new ExitedBeforeReady(`the redis-server started for port ${port} exited (${child.exitCode ?? child.signalCode}) before it answered: the port was taken`);
    }
    const pid = await withClient(port, async (r) => /^process_id:(\d+)/m.exec(await r.info('server'))?.[1]).catch(() => undefined);
    if (pid === String(child.pid)) return;
    if (i > 200) throw new Error(`port ${port} is not answered by the redis-server started for it (pid ${child.pid}) after 10 s${pid ? `, but by process ${pid}` : ''}`);
    await sleep(50);
  }
}

/**
 * Spawns `redis-server` with `args(port)` on a port freePort draws, and resolves once that very
 * process answers there. A process that cannot listen (its port taken between the draw and its
 * start, by another test file) is started again on another port, up to `tries` times.
 */
export async function spawnRedis(args: (port: number) => string[], tries = 5): Promise<{ port: number; child: ChildProcess }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = spawn('redis-server', args(port), { stdio: 'ignore' });
    try {
      await waitForOwn(port, child);
      return { port, child };
    } catch (err) {
      child.kill('SIGKILL');
      if (!(err instanceof ExitedBeforeReady) || attempt >= tries) throw err;
    }
  }
}

/** A master and one replica in sync, without persistence, in a folder of their own (the first sync without Redis's 5 s wait for more replicas). */
export async function masterAndReplica(): Promise<{ master: ChildProcess; replica: ChildProcess; masterPort: number; replicaPort: number; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-replica-'));
  const data = (replicaOf?: number) => (port: number): string[] =>
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : [])];
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children) c.kill('SIGCONT');
    await stopProcesses(children, dir);
  };
  try {
    const { port: masterPort, child: master } = await spawnRedis(data());
    children.push(master);
    const { port: replicaPort, child: replica } = await spawnRedis(data(masterPort));
    children.push(replica);
    for (let i = 0; !/master_link_status:up/.test(await withClient(replicaPort, (r) => r.info('replication'))); i++) {
      if (i > 200) throw new Error('the replica never got in sync');
      await sleep(50);
    }
    return { master, replica, masterPort, replicaPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
