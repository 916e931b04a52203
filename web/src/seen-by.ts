import type { ReadReceipt } from 'switchboard-client';

/** A message line as "Seen by" reads it: its seq (NaN for a line not stored yet) and its sender. */
export interface SeenLine {
  seq: number;
  sender: string;
}

/**
 * Where "Seen by" goes: the newest of `newestFirst` that someone other than its sender has read
 * (a read position at or past its seq), with the names of those readers in `readers`' order
 * (one receipt per member); undefined when no line is read by anyone but its sender.
 *
 * The readers are sorted by position once; each line then asks how many read at least that far
 * (a binary search), where filtering every reader for every line cost lines × readers whenever
 * the newest lines were unread (a burst of messages in a big room, each receipt walking them all).
 */
export function seenBy<L extends SeenLine>(newestFirst: Iterable<L>, readers: readonly ReadReceipt[]): { line: L; names: string[] } | undefined {
  if (readers.length === 0) return undefined;
  const furthestFirst = [...readers].sort((a, b) => b.seq - a.seq);
  for (const line of newestFirst) {
    if (Number.isNaN(line.seq)) continue;
    const count = readAtLeast(furthestFirst, line.seq);
    // Members are distinct: of two readers or more, one is not the line's sender.
    if (count === 0 || (count === 1 && furthestFirst[0]!.member === line.sender)) continue;
    return { line, names: readers.filter((r) => r.seq >= line.seq && r.member !== line.sender).map((r) => r.name) };
  }
  return undefined;
}

/** How many of `furthestFirst` (sorted by position, furthest first) read at least to `seq`. */
function readAtLeast(furthestFirst: readonly ReadReceipt[], seq: number): number {
  let lo = 0;
  let hi = furthestFirst.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (furthestFirst[mid]!.seq >= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
