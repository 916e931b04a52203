import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * pino logger: human-readable (pino-pretty) when stdout is a terminal, JSON lines otherwise.
 * `level` 'silent' turns it off (tests).
 */
export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  if (pretty && level !== 'silent') {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ level });
}
