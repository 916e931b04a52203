import type { RedisClient } from '../redis-connection.js';
import { TICKET_MAX_AGE_MS } from '../session/presence-ticket.js';
import { MAX_DISCONNECTS_REMEMBERED, type DisconnectOrder } from './broker.js';

/**
 * The disconnect orders kept in one Redis sorted set (`${prefix}disconnects`): `[member, room]`
 * as JSON (room null for every room), scored by when it was ordered. One key, so every step is
 * atomic in a Redis Cluster too. The Redis broker (for the nodes that start later) and the Redis
 * store (MessageStore.keepDisconnect) keep them in the same set, in the same form: an order kept
 * by both is one member of it.
 */

/** Adds an order and drops what is past its bounds (the last TICKET_MAX_AGE_MS, the latest MAX_DISCONNECTS_REMEMBERED), in one transaction. */
export async function keepDisconnectIn(redis: RedisClient, key: string, order: DisconnectOrder): Promise<void> {
  await redis
    .multi()
    .zadd(key, order.at, JSON.stringify([order.member, order.room ?? null]))
    .zremrangebyscore(key, '-inf', `(${Date.now() - TICKET_MAX_AGE_MS}`)
    .zremrangebyrank(key, 0, -MAX_DISCONNECTS_REMEMBERED - 1)
    .pexpire(key, TICKET_MAX_AGE_MS)
    .exec();
}

/** The orders of the set ordered at or after `since` (ms), oldest first; members that are not ours are skipped. */
export async function readDisconnectsIn(redis: RedisClient, key: string, since: number): Promise<DisconnectOrder[]> {
  const flat = await redis.zrangebyscore(key, since, '+inf', 'WITHSCORES');
  const orders: DisconnectOrder[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    let who: unknown;
    try {
      who = JSON.parse(flat[i]!);
    } catch {
      continue; // Not ours: ignore.
    }
    if (!Array.isArray(who) || typeof who[0] !== 'string') continue;
    orders.push({ member: who[0], ...(typeof who[1] === 'string' ? { room: who[1] } : {}), at: Number(flat[i + 1]) });
  }
  return orders;
}
