import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DISCONNECTS_REMEMBERED } from '../src/server/broker/broker.js';
import { DisconnectOrders } from '../src/server/broker/disconnect-orders.js';
import { TICKET_MAX_AGE_MS } from '../src/server/session/presence-ticket.js';

describe('DisconnectOrders (the hub and the memory store remember disconnect orders with it)', () => {
  it('looks a member up in a room and everywhere, the later of both; a newer order replaces one and goes last', () => {
    const orders = new DisconnectOrders();
    const now = Date.now();
    assert.equal(orders.lookup('ann', 'dev', now), undefined);
    orders.remember('ann', 'dev', now - 3000);
    orders.remember('bob', undefined, now - 2000);
    orders.remember('ann', undefined, now - 1000);
    assert.equal(orders.lookup('ann', 'dev', now), now - 1000, 'the later of the room and every room');
    assert.equal(orders.lookup('ann', 'ops', now), now - 1000);
    assert.equal(orders.lookup('bob', 'dev', now), now - 2000);
    assert.equal(orders.lookup('cy', 'dev', now), undefined);
    orders.remember('ann', 'dev', now);
    assert.equal(orders.lookup('ann', 'dev', now), now);
    assert.deepEqual(orders.entries(now), [
      { member: 'bob', at: now - 2000 },
      { member: 'ann', at: now - 1000 },
      { member: 'ann', room: 'dev', at: now },
    ]);
  });

  it(`keeps the latest ${MAX_DISCONNECTS_REMEMBERED} of the last TICKET_MAX_AGE_MS`, () => {
    const orders = new DisconnectOrders();
    const now = Date.now();
    for (let i = 0; i <= MAX_DISCONNECTS_REMEMBERED; i++) orders.remember(`m${i}`, undefined, now);
    assert.equal(orders.size, MAX_DISCONNECTS_REMEMBERED);
    assert.equal(orders.lookup('m0', 'dev', now), undefined, 'the oldest forgotten');
    assert.equal(orders.lookup('m1', 'dev', now), now);
    assert.equal(orders.lookup('m1', 'dev', now + TICKET_MAX_AGE_MS), undefined, 'forgotten a ticket\'s age later');
    assert.equal(orders.size, 0);
    assert.deepEqual(orders.entries(), []);
  });
});
