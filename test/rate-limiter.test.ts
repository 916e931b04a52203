import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimiter } from '../src/server/rate-limiter.js';
import { Limits, type Budget } from '../src/server/session/limits.js';
import type { Principal } from '../src/server/auth/principal.js';

const guest = { kind: 'guest', member: 'guest-1', name: 'guest-1', address: '203.0.113.7' } as unknown as Principal;

function limits(burst: number, perSecond: number): Limits {
  const rates = Object.fromEntries((['publish', 'typing', 'subscribe', 'create', 'rooms', 'connect', 'query', 'read', 'accessLog'] as Budget[]).map((b) => [b, { perSecond, burst }])) as Record<Budget, { perSecond: number; burst: number }>;
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

  it('charging past the bucket says how long until it is out of debt; refuseInDebt refuses that long, with Retry-After, for that key only', () => {
    const bucket = new RateLimiter(10, 20);
    const t = performance.now() + 1000;
    assert.equal(bucket.charge(15, t), 0);
    assert.equal(bucket.charge(10, t), 0.5);
    const l = limits(20, 10);
    const other = { ...guest, address: '203.0.113.8' } as Principal;
    assert.doesNotThrow(() => l.refuseInDebt('read', guest, 'why'));
    l.charge('read', guest, 20);
    assert.doesNotThrow(() => l.refuseInDebt('read', guest, 'why'));
    l.charge('read', guest, 10);
    assert.throws(() => l.refuseInDebt('read', guest, 'past --read-rate'), (err: Error & { code?: string; retryAfter?: number }) => err.code === 'RATE_LIMITED' && err.message.includes('past --read-rate') && err.retryAfter === 1);
    assert.doesNotThrow(() => l.refuseInDebt('read', other, 'why'));
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
