import type { Redis } from 'ioredis';
import { SwitchboardError } from '../../protocol/errors.js';

/**
 * Confirms that a connection's writes reached `replicas` Redis replicas before they are
 * acknowledged, with Redis `WAIT` (which waits for every write the connection made before it).
 * Writes confirmed at about the same time share one WAIT: while one is out, the writes that ask
 * meanwhile wait for the next, sent once it returns. (Redis holds a connection's later commands
 * behind a WAIT anyway, so one per write would serialise every append behind a replication round
 * trip.) A WAIT that finds fewer replicas within `timeoutMs`, or fails, refuses every write that
 * waited on it with STORE_UNAVAILABLE: the write may still be on the master (a retry with the same
 * clientId finds it), but it is not acknowledged, nor delivered, as something a failover could take back.
 */
export class ReplicationBarrier {
  /** The writes waiting for the next WAIT; undefined when none is. */
  private next: Waiters | undefined;
  private waiting = false;

  constructor(
    private readonly redis: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves once every write this connection made so far is on `replicas` replicas; rejects with STORE_UNAVAILABLE otherwise. */
  confirm(): Promise<void> {
    const waiters = (this.next ??= new Waiters());
    if (!this.waiting) this.send();
    return waiters.promise;
  }

  private send(): void {
    const waiters = this.next;
    this.next = undefined;
    if (waiters === undefined) return;
    this.waiting = true;
    this.redis.wait(this.replicas, this.timeoutMs).then(
      (reached) => {
        if (reached >= this.replicas) waiters.resolve();
        else waiters.reject(new SwitchboardError('STORE_UNAVAILABLE', `written, but on ${reached} of ${this.replicas} Redis replicas after ${this.timeoutMs} ms: not acknowledged`));
      },
      (err: unknown) => waiters.reject(new SwitchboardError('STORE_UNAVAILABLE', `replication not confirmed: ${err instanceof Error ? err.message : String(err)}`)),
    ).finally(() => {
      this.waiting = false;
      this.send();
    });
  }
}

/** One promise for every write that waits on one WAIT. */
class Waiters {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (err: Error) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // Each caller awaits it; none attached yet must not make it an unhandled rejection.
    this.promise.catch(() => {});
  }
}
