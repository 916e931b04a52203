import type { Budget, BudgetPeers, Spend } from '../session/limits.js';
import type { PrimaryClient } from './primary-client.js';

/**
 * The budgets of the workers of one node, shared: what this worker's clients spend (a publish, a
 * connection, a subscribe, a room, a read past its unit...) is told to the primary at the end of
 * the turn, summed per budget and key, and the primary passes it to every other worker, which
 * charges it to its own buckets (Limits.absorb). So a client whose connections node:cluster
 * spreads over n workers gets one budget for the machine, not n: it is refused by each worker
 * once all of them together spent it. Between a spend and the other workers' knowing of it lies
 * one turn of each process and two IPC hops (well under a millisecond when idle): a client that
 * spends on several workers within that window may get a little past its budget, never n times.
 * Refusals spend nothing, so a flood of refused requests sends nothing.
 */
export class SharedBudgets implements BudgetPeers {
  /** Units spent this turn, per budget and key. */
  private pending = new Map<Budget, Map<string, number>>();
  private scheduled = false;

  constructor(private readonly primary: PrimaryClient) {}

  spent(budget: Budget, key: string, units: number): void {
    let byKey = this.pending.get(budget);
    if (byKey === undefined) this.pending.set(budget, (byKey = new Map()));
    byKey.set(key, (byKey.get(key) ?? 0) + units);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  onSpent(handler: (spends: readonly Spend[]) => void): void {
    this.primary.spentWith(handler);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const spends: Spend[] = [];
    for (const [budget, byKey] of this.pending) for (const [key, units] of byKey) spends.push([budget, key, units]);
    this.pending = new Map();
    if (spends.length > 0) this.primary.tell({ sb: 1, t: 'spent', spends });
  };
}
