import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL, or the local default. */
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let counter = 0;

/** A key prefix no other test run uses: `sbtest:<pid>:<time>:<n>:`. */
export function uniquePrefix(): string {
  return `sbtest:${process.pid}:${Date.now()}:${++counter}:`;
}

/**
 * Why the Redis suites must be skipped, or undefined to run them. When Redis does not answer,
 * they are skipped with a loud warning; under CI=true a failing test is registered instead of
 * the warning, so a CI job that is meant to test Redis cannot go green without it.
 */
export async function redisSkipReason(suite: string): Promise<string | undefined> {
  const redis = new Redis(redisUrl, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (err) {
    const reason = `Redis at ${redisUrl} does not answer (${err instanceof Error ? err.message : String(err)})`;
    if (process.env.CI === 'true') {
      test(`${suite}: Redis must answer when CI=true`, () => assert.fail(`${suite} cannot run because ${reason}`));
    } else {
      console.warn(`SKIPPED: ${suite} because ${reason}. Start Redis or set REDIS_URL; with CI=true this fails instead.`);
    }
    return reason;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key that starts with `prefix` (SCAN, never KEYS). */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
