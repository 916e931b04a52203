import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './private-redis.js';

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

/** Resolves once the server at `port` answers PING (every 50 ms, for up to 5 s). */
export async function waitForPing(port: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await withClient(port, (r) => r.ping());
      return;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(50);
    }
  }
}

/** A master and one replica in sync, without persistence, in a folder of their own (the first sync without Redis's 5 s wait for more replicas). */
export async function masterAndReplica(): Promise<{ master: ChildProcess; replica: ChildProcess; masterPort: number; replicaPort: number; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-replica-'));
  const masterPort = await freePort();
  let replicaPort = await freePort();
  while (replicaPort === masterPort) replicaPort = await freePort();
  const data = (port: number, replicaOf?: number): ChildProcess =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...(replicaOf ? ['--replicaof', '127.0.0.1', String(replicaOf)] : [])], { stdio: 'ignore' });
  const master = data(masterPort);
  const children = [master];
  const stop = async (): Promise<void> => {
    for (const c of children) c.kill('SIGCONT');
    await stopProcesses(children, dir);
  };
  try {
    await waitForPing(masterPort);
    const replica = data(replicaPort, masterPort);
    children.push(replica);
    await waitForPing(replicaPort);
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
