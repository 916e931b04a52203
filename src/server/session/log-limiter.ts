import type { Logger } from '../logger.js';

/**
 * Logs at most `perWindow` lines per key per window: one hostile client sending bad input in a
 * loop must not fill the disk. The first line after a quiet window says how many were held back.
 */
export class LogLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.log('warn', key, fields, message);
  }

  error(key: string, fields: Record<string, unknown>, message: string): void {
    this.log('error', key, fields, message);
  }

  private log(level: 'warn' | 'error', key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || now - w.start > this.windowMs) {
      const held = w ? Math.max(0, w.count - this.perWindow) : 0;
      if (this.windows.size > 1000) this.windows.clear();
      this.windows.set(key, (w = { start: now, count: 0 }));
      if (held > 0) fields = { ...fields, suppressed: held };
    }
    if (++w.count <= this.perWindow) this.logger[level](fields, message);
  }
}
