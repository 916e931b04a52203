import type { TransportName } from '../protocol/types.js';
import type { Subscriber } from './subscriber.js';

/**
 * The live subscribers of a room, with how many there are of each transport, kept up to date as
 * they are added and removed, so counting a delivery by transport costs O(transports) per batch
 * rather than a walk over the recipients. A Set in every other way.
 */
export class SubscriberSet extends Set<Subscriber> {
  private readonly counts = new Map<TransportName, number>();

  /** Subscribers of each transport now (zero counts may stay listed). */
  get byTransport(): ReadonlyMap<TransportName, number> {
    return this.counts;
  }

  override add(sub: Subscriber): this {
    if (!this.has(sub)) this.counts.set(sub.transport, (this.counts.get(sub.transport) ?? 0) + 1);
    return super.add(sub);
  }

  override delete(sub: Subscriber): boolean {
    const deleted = super.delete(sub);
    if (deleted) this.counts.set(sub.transport, this.counts.get(sub.transport)! - 1);
    return deleted;
  }

  override clear(): void {
    super.clear();
    this.counts.clear();
  }
}
