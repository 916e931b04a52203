import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';

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
