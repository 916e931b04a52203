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
 * Whether a line qualifies needs only the two furthest readers (members are distinct: of two
 * readers that far, one is not its sender), found in one pass; the names are gathered once, for
 * the line found. Filtering every reader for every line cost lines × readers whenever the newest
 * lines were unread (a burst of messages in a big room, each receipt walking them all).
 */
export function seenBy<L extends SeenLine>(newestFirst: Iterable<L>, readers: readonly ReadReceipt[]): { line: L; names: string[] } | undefined {
  let first: ReadReceipt | undefined;
  let second: ReadReceipt | undefined;
  for (const r of readers) {
    if (first === undefined || r.seq > first.seq) {
      second = first;
      first = r;
    } else if (second === undefined || r.seq > second.seq) second = r;
  }
  if (first === undefined) return undefined;
  for (const line of newestFirst) {
    if (Number.isNaN(line.seq) || first.seq < line.seq) continue;
    const others = first.member !== line.sender || (second !== undefined && second.seq >= line.seq);
    if (others) return { line, names: readers.filter((r) => r.seq >= line.seq && r.member !== line.sender).map((r) => r.name) };
  }
  return undefined;
}
