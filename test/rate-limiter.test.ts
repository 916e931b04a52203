import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../src/server/rate-limiter.js';
import { Limits, type Budget } from '../src/server/session/limits.js';
import type { Principal } from '../src/server/auth/principal.js';

const guest = { kind: 'guest', member: 'guest-1', name: 'guest-1', address: '203.0.113.7' } as unknown as Principal;

function limits(burst: number, perSecond: number): Limits {
  const rates = Object.fromEntries((['publish', 'typing', 'subscribe', 'create', 'rooms', 'connect', 'query', 'accessLog'] as Budget[]).map((b) => [b, { perSecond, burst }])) as Record<Budget, { perSecond: number; burst: number }>;
  return new Limits({ rates, maxConnectionsPerAddress: 10, maxConnectionsPerMember: 10 });
}

describe('RateLimiter', () => {
  it('a new bucket of burst 1 gives its one token, even to a time read before the bucket was made', () => {
    // Limits.take reads the time, then makes the bucket of a new key (which reads it again): the
    // elapsed time is negative there, and a bucket of one token fell under 1 and refused.
    const before = performance.now();
    const bucket = new RateLimiter(1 / 86_400, 1);
    assert.equal(bucket.take(before), true);
    assert.equal(bucket.take(before), false);
  });

  it('--rate-burst 1 and --rooms-per-day 1: the first publish and the first room of a client go through, the second is refused', () => {
    const l = limits(1, 1 / 86_400);
    assert.doesNotThrow(() => l.spend('publish', guest));
    assert.throws(() => l.spend('publish', guest), { code: 'RATE_LIMITED' });
    assert.doesNotThrow(() => l.spendRoom(guest));
    assert.throws(() => l.spendRoom(guest), { code: 'RATE_LIMITED' });
  });

  it('time going backwards refills nothing and takes nothing', () => {
    const bucket = new RateLimiter(10, 2);
    const t = performance.now() + 10_000;
    assert.equal(bucket.take(t), true);
    assert.equal(bucket.take(t - 5000), true);
    assert.equal(bucket.take(t - 5000), false);
    assert.equal(bucket.secondsUntilNext(t - 5000) > 0, true);
  });
});
