import type { Budget, Held, LimitPeers, Spend } from '../session/limits.js';
import type { PrimaryClient } from './primary-client.js';

/**
 * The budgets and caps of the workers of one node, shared, so that a client whose connections
 * node:cluster spreads over n workers gets one budget and one cap for the machine, not n.
 *
 * - Budgets: what this worker's clients spend (a publish, a connection, a subscribe, a room, a
 *   read past its unit...) is told to the primary in the turn's IPC message, summed per budget
 *   and key, and the primary passes it to every other worker, which charges it to its own buckets
 *   (Limits.absorb): a client is refused by each worker once all of them together spent its
 *   budget. Refusals spend nothing, so a flood of refused requests sends nothing.
 * - Caps: how many connections an address or a member holds here, from SHARED_FROM on (most
 *   clients hold one, whose every poll would otherwise cross), its latest count; the
 *   primary keeps each worker's, passes them to the others, gives a new worker all of them, and
 *   tells the others to forget those of a worker that exited.
 *
 * Between a spend here and the other workers' knowing of it lie a turn or two of each process
 * and two IPC hops (well under a millisecond when idle): a client that spends, or connects, on
 * several workers within that window may get a little past its budget or cap, never n times it.
 */
export class SharedLimits implements LimitPeers {
  /** Units spent since the last flush, per budget and key. */
  private spends = new Map<Budget, Map<string, number>>();
  /** Counts changed since the last flush, the latest per cap and key. */
  private counts = { address: new Map<string, number>(), member: new Map<string, number>() };
  private scheduled = false;

  constructor(private readonly primary: PrimaryClient) {}

  spent(budget: Budget, key: string, units: number): void {
    let byKey = this.spends.get(budget);
    if (byKey === undefined) this.spends.set(budget, (byKey = new Map()));
    byKey.set(key, (byKey.get(key) ?? 0) + units);
    this.schedule();
  }

  onSpent(handler: (spends: readonly Spend[]) => void): void {
    this.primary.spentWith(handler);
  }

  holds(cap: Held[0], key: string, open: number): void {
    this.counts[cap].set(key, open);
    this.schedule();
  }

  onHolds(handler: (peer: string, counts: readonly Held[]) => void, gone: (peer: string) => void): void {
    this.primary.heldWith(handler, gone);
  }

  /**
   * Told to the primary once the current task is done: into the turn's one IPC message to it
   * (BatchingPort), beside whatever else the turn sends (the presence calls of a connection, a
   * publish), not in a message of its own a turn later.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.spends.size > 0) {
      const spends: Spend[] = [];
      for (const [budget, byKey] of this.spends) for (const [key, units] of byKey) spends.push([budget, key, units]);
      this.spends = new Map();
      this.primary.tell({ sb: 1, t: 'spent', spends });
    }
    const { address, member } = this.counts;
    if (address.size + member.size > 0) {
      const counts: Held[] = [];
      for (const [key, open] of address) counts.push(['address', key, open]);
      for (const [key, open] of member) counts.push(['member', key, open]);
      this.counts = { address: new Map(), member: new Map() };
      this.primary.tell({ sb: 1, t: 'held', counts });
    }
  };
}
