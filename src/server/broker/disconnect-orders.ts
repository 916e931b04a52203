import { TICKET_MAX_AGE_MS } from '../session/presence-ticket.js';
import { MAX_DISCONNECTS_REMEMBERED, type DisconnectOrder } from './broker.js';

/**
 * The administrators' disconnect orders a node remembers: the latest MAX_DISCONNECTS_REMEMBERED
 * (the oldest forgotten first) of the last TICKET_MAX_AGE_MS, as long as a presence ticket the
 * order ended is good. One order per member and room (or member and every room): a newer one
 * replaces it. Kept by a hub (its polls refuse the tickets an order ended) and by the memory
 * store (MessageStore.keepDisconnect).
 */
export class DisconnectOrders {
  /** By `member\nroom` (`member\n` for every room), in the order remembered: (nearly) oldest first. */
  private readonly orders = new Map<string, DisconnectOrder>();

  /** How many are remembered (none: a poll need look no further). */
  get size(): number {
    return this.orders.size;
  }

  /** Remembers that `member` was disconnected from `room` (undefined: from every room) at `at` (ms). */
  remember(member: string, room: string | undefined, at: number): void {
    const key = `${member}\n${room ?? ''}`;
    // Moved to the end: the map stays in (nearly) time order, so forgetting starts at its front.
    this.orders.delete(key);
    this.orders.set(key, { member, ...(room !== undefined ? { room } : {}), at });
    if (this.orders.size > MAX_DISCONNECTS_REMEMBERED) this.orders.delete(this.orders.keys().next().value!);
    this.prune(Date.now());
  }

  /** When `member` was last disconnected from `room` or from every room, within TICKET_MAX_AGE_MS of `now`; undefined otherwise. */
  lookup(member: string, room: string, now = Date.now()): number | undefined {
    if (this.orders.size === 0) return undefined;
    this.prune(now);
    const inRoom = this.orders.get(`${member}\n${room}`)?.at;
    const everywhere = this.orders.get(`${member}\n`)?.at;
    return inRoom === undefined ? everywhere : everywhere === undefined ? inRoom : Math.max(inRoom, everywhere);
  }

  /** Forgets the orders older than TICKET_MAX_AGE_MS at `now` (from the front, up to the first younger one). */
  prune(now: number): void {
    for (const [key, order] of this.orders) {
      if (now - order.at < TICKET_MAX_AGE_MS) break;
      this.orders.delete(key);
    }
  }

  /** The orders of the last TICKET_MAX_AGE_MS at `now`, in the order remembered (oldest first). */
  entries(now = Date.now()): DisconnectOrder[] {
    this.prune(now);
    return [...this.orders.values()];
  }
}
