/**
 * SIGINT and SIGTERM as a process of `switchboard serve` (one server, a worker or the primary)
 * takes them: the first starts the graceful shutdown; a repeat soon after is a duplicate and
 * changes nothing; a third one, or a repeat after FORCE_AFTER_MS, exits at once.
 *
 * Why a repeat is not fatal: Ctrl-C on `npm start` reaches node twice, once from the terminal
 * (the whole process group gets SIGINT) and once forwarded by npm, and a service manager may
 * send SIGTERM to the group and to the main process alike. Why a later one is: an operator who
 * presses Ctrl-C again means it, as with most servers.
 */

/** A repeat signal this long after the first one forces the exit. */
export const FORCE_AFTER_MS = 3000;

/** What the handler needs of a logger (pino's, or any of the same shape). */
interface SignalLogger {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

export interface ShutdownSignalsOptions {
  logger: SignalLogger;
  /** Starts the graceful shutdown; called once, on the first signal. */
  shutdown(signal: NodeJS.Signals): void;
  /** Ends the process at once (a forced exit); `code` is 128 + the signal's number, as a shell shows it. */
  exit(code: number): void;
  /** Signals handled; SIGINT and SIGTERM unless told. */
  signals?: readonly NodeJS.Signals[];
}

const SIGNAL_NUMBER: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * Installs the handlers (with `process.on`: `once` would leave a second signal to the default
 * action, which kills the process in the middle of its shutdown). Returns a function that
 * removes them.
 */
export function handleShutdownSignals(o: ShutdownSignalsOptions): () => void {
  let first: number | undefined;
  let received = 0;
  const handler = (signal: NodeJS.Signals): void => {
    received++;
    const now = Date.now();
    if (first === undefined) {
      first = now;
      o.shutdown(signal);
      return;
    }
    const since = now - first;
    if (received >= 3 || since >= FORCE_AFTER_MS) {
      o.logger.warn({ signal, received, ms: since }, 'signal received again: exiting at once, without finishing the shutdown');
      o.exit(128 + (SIGNAL_NUMBER[signal] ?? 0));
      return;
    }
    o.logger.info({ signal, ms: since }, `shutdown under way (a repeated signal, as Ctrl-C under npm sends): a third signal, or another after ${FORCE_AFTER_MS / 1000} s, exits at once`);
  };
  const signals = o.signals ?? ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
