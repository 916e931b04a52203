/** Node's setImmediate, where there is one (a browser has none). */
const immediate = (globalThis as { setImmediate?: (run: () => void) => unknown }).setImmediate;

/**
 * Runs `run` once the I/O that is waiting now has been read: in Node, at the check phase of
 * this loop iteration, which follows its poll phase (the reads); elsewhere after a zero-delay
 * timer, which lets a browser run the tasks of its other sources (network events) first.
 */
const afterWaitingIo: (run: () => void) => void = immediate ? (run) => void immediate(run) : (run) => void setTimeout(run, 0);

/**
 * A deadline for an answer that comes by I/O: `onLate` runs once `ms` have passed and the I/O
 * that was waiting at that moment has been read, unless the returned cancel came first.
 *
 * A plain timer is not enough when the event loop was busy past the deadline (a process
 * running thousands of clients, a script that held the tab): the loop then runs that turn's
 * timers before it reads the turn's I/O, and a timer declared late an answer that had come in
 * time and was waiting to be read, an open refused as BLOCKED, which sends `auto` down to a
 * worse transport. The server's requests to its primary process had the same defect
 * (workers/primary-client.ts).
 */
export function deadline(ms: number, onLate: () => void): () => void {
  let cancelled = false;
  const timer = setTimeout(() => afterWaitingIo(() => cancelled || onLate()), ms);
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}
