import { SwitchboardError } from '../protocol/errors.js';
import type { Metrics } from './metrics.js';

/** A long-lived connection the server must end when it shuts down. */
export interface Closable {
  /** Ends the connection gracefully, telling the client to reconnect (elsewhere). */
  shutdown(): void;
  /** Cuts the connection at once (graceful time is over). */
  destroy(): void;
}

/**
 * Counts long-lived connections (WebSocket, SSE, held long polls) against `maxConnections`,
 * and ends them all on shutdown.
 */
export class ConnectionRegistry {
  private readonly open = new Set<Closable>();
  draining = false;

  constructor(
    private readonly max: number,
    private readonly metrics: Metrics,
  ) {}

  /** Throws SHUTTING_DOWN while draining, TOO_MANY_CONNECTIONS at the cap. */
  check(): void {
    if (this.draining) throw new SwitchboardError('SHUTTING_DOWN');
    if (this.open.size >= this.max) throw new SwitchboardError('TOO_MANY_CONNECTIONS', `limit is ${this.max}`);
  }

  /** Admits a connection (see check); the returned function releases it, once. */
  admit(transport: string, conn: Closable): () => void {
    this.check();
    this.open.add(conn);
    this.metrics.connections.inc({ transport });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open.delete(conn);
      this.metrics.connections.dec({ transport });
    };
  }

  get size(): number {
    return this.open.size;
  }

  shutdownAll(): void {
    this.draining = true;
    for (const c of [...this.open]) c.shutdown();
  }

  destroyAll(): void {
    for (const c of [...this.open]) c.destroy();
  }
}
