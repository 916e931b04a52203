/** What one client received and what it should have. */
export interface Receipt {
  name: string;
  /** Seqs of the message entries it got, in arrival order. */
  seqs: readonly number[];
  /** Seqs of the messages acknowledged in its room while it was subscribed, ascending. */
  expected: readonly number[];
}

export interface DeliveryCheck {
  /** Clients that got every expected message exactly once, in order. */
  complete: number;
  /**
   * Messages received that no acknowledgement announced: stored by the server but their ack
   * never reached the publisher (it timed out), or not published at all. Counted apart.
   */
  unacknowledged: number;
  /**
   * Expected messages not received although a later one was (skipped), over all clients: lost.
   */
  lost: number;
  /**
   * Expected messages after the last one a client received: not delivered yet when checked (a
   * client still catching up, or down), over all clients. Lost too if the run stops there.
   */
  behind: number;
  /** Messages received more than once (each extra copy counts). */
  doubled: number;
  /** Messages received after one with a higher seq. */
  outOfOrder: number;
  /** The first few problems, one line each. */
  samples: string[];
}

/** Checks deliveries: nothing lost, nothing doubled, in order, nothing that was not published. */
export function checkDeliveries(receipts: readonly Receipt[], maxSamples = 5): DeliveryCheck {
  const result: DeliveryCheck = { complete: 0, unacknowledged: 0, lost: 0, behind: 0, doubled: 0, outOfOrder: 0, samples: [] };
  for (const r of receipts) {
    const got = new Set(r.seqs);
    const doubled = r.seqs.length - got.size;
    let outOfOrder = 0;
    for (let i = 1; i < r.seqs.length; i++) if (r.seqs[i]! < r.seqs[i - 1]!) outOfOrder++;
    const want = new Set(r.expected);
    const lost = r.expected.filter((s) => !got.has(s));
    const unknown = [...got].filter((s) => !want.has(s));
    const last = r.seqs.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
    const behind = lost.filter((s) => s > last).length;
    result.lost += lost.length - behind;
    result.behind += behind;
    result.doubled += doubled;
    result.outOfOrder += outOfOrder;
    result.unacknowledged += unknown.length;
    if (lost.length === 0 && doubled === 0 && outOfOrder === 0) result.complete++;
    if ((lost.length > 0 || doubled > 0 || outOfOrder > 0 || unknown.length > 0) && result.samples.length < maxSamples) {
      result.samples.push(
        `${r.name}: ${lost.length - behind} lost, ${behind} behind${lost.length ? ` (missing ${lost.slice(0, 3).join(',')}${lost.length > 3 ? ` … ${lost.at(-1)}` : ''} of ${r.expected[0]}..${r.expected.at(-1)})` : ''}, ${doubled} doubled, ${outOfOrder} out of order, ${unknown.length} not acknowledged${unknown.length ? ` (${unknown.slice(0, 5).join(',')})` : ''}`,
      );
    }
  }
  return result;
}
