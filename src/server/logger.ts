import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * pino logger: human-readable (pino-pretty) when stdout is a terminal, JSON lines otherwise.
 * `level` 'silent' turns it off (tests).
 *
 * pino-pretty runs in this thread, as a stream, not as a pino transport: a transport is a worker
 * thread, a V8 isolate of its own (about 20 MB of RSS), paid once per process, so once per worker
 * of `--workers` in a terminal. It is loaded only then.
 */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  if (pretty && level !== 'silent') {
    const build = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino({ level }, build({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  }
  return pino({ level });
}
