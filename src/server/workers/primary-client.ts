import { isErrorCode, SwitchboardError } from '../../protocol/errors.js';
import type { BrokerMessage } from '../broker/broker.js';
import type { Held, Spend } from '../session/limits.js';
import { eachOurs, type ConnectionCount, type IpcPort, type PrimaryCall, type ToPrimary, type ToWorker } from './ipc-protocol.js';

/** A request to the primary that got no answer in time, or was cut by close. */
export class PrimaryUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrimaryUnavailableError';
  }
}

/**
 * A worker's side of its IPC channel to the primary: requests with ids and timeouts (presence,
 * interest, metrics, its identity), one-way messages (publish, unwatch, ready, budgets spent,
 * counts of connections), and the handlers of what the primary sends (broker deliveries, the
 * other workers' spends and counts, the drain order). One per worker process, shared
 * by the IPC broker, the IPC presence store and the metrics route.
 */
export class PrimaryClient {
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  private onDeliver: (messages: BrokerMessage[]) => void = () => {};
  private onDrain: () => void = () => {};
  private onUnlisten: () => void = () => {};
  private onCount: () => Promise<ConnectionCount> = () => Promise.resolve({ connections: 0, clients: 0 });
  private onSpent: (spends: Spend[]) => void = () => {};
  /**
   * The other workers' counts of connections, and those gone; until a handler is set (the server
   * is built after `hello`), kept: a count missed would be missed until it changed again.
   */
  private onHeld: ((from: string, counts: Held[]) => void) | undefined;
  private onGone: ((from: string) => void) | undefined;
  private heldEarly: Extract<ToWorker, { t: 'held' | 'gone' }>[] = [];
  private readonly off: () => void;
  private closed = false;

  constructor(private readonly port: IpcPort<ToPrimary>) {
    this.off = port.onMessage((m) => {
      eachOurs<ToWorker>(m, (message) => this.receive(message));
    });
  }

  /**
   * Asks the primary; resolves with its answer. Rejects with PrimaryUnavailableError when no answer
   * came within `timeoutMs` (or the channel is closed), or with what the call failed with there: the
   * same SwitchboardError for a catalog error, else an Error carrying the primary's message.
   */
  request<T>(call: PrimaryCall, timeoutMs: number): Promise<T> {
    if (this.closed || !this.port.connected()) return Promise.reject(new PrimaryUnavailableError(`the primary process cannot be reached (${call.op})`));
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Not yet: an answer that came while this process was busy past the deadline (a worker
        // closing thousands of connections at shutdown) waits in the channel, and the loop runs
        // the timers of a turn before it reads I/O. Given up after this turn's reads, unless answered.
        setImmediate(() => {
          if (this.pending.get(id)?.timer !== timer) return;
          this.pending.delete(id);
          reject(new PrimaryUnavailableError(`the primary process did not answer ${call.op} within ${timeoutMs} ms`));
        });
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.port.send({ sb: 1, t: 'req', id, call });
    });
  }

  /** True while the primary can be reached. */
  get connected(): boolean {
    return !this.closed && this.port.connected();
  }

  /** Sends a one-way message (dropped when the channel is closed). */
  tell(message: ToPrimary): void {
    if (!this.closed) this.port.send(message);
  }

  /** Sets the one handler of broker messages relayed from the other workers (a turn's worth at a time, in order). */
  deliverTo(handler: (messages: BrokerMessage[]) => void): void {
    this.onDeliver = handler;
  }

  /** Sets the one handler of the primary's order to close gracefully. */
  drainWith(handler: () => void): void {
    this.onDrain = handler;
  }

  /** Sets the one handler of the primary's order to take no new connection. */
  unlistenWith(handler: () => void): void {
    this.onUnlisten = handler;
  }

  /** Sets how to count the sockets and the clients this worker holds open, answered to the primary's `count`. */
  countWith(handler: () => Promise<ConnectionCount>): void {
    this.onCount = handler;
  }

  /** Sets the one handler of what the other workers' clients spent of their budgets. */
  spentWith(handler: (spends: Spend[]) => void): void {
    this.onSpent = handler;
  }

  /** Sets the handlers of the other workers' counts of connections and of a worker gone; what came before them is given to them first. */
  heldWith(handler: (from: string, counts: Held[]) => void, gone: (from: string) => void): void {
    this.onHeld = handler;
    this.onGone = gone;
    const early = this.heldEarly;
    this.heldEarly = [];
    for (const m of early) this.receive(m);
  }

  /** Sends at once what the port holds back for the end of the turn (see BatchingPort). */
  flush(): void {
    if (!this.closed) this.port.flush?.();
  }

  /** Sends what is held back, stops listening; requests still waiting reject. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.port.flush?.();
    this.closed = true;
    this.off();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new PrimaryUnavailableError('closed'));
      this.pending.delete(id);
    }
  }

  private receive(m: Exclude<ToWorker, { t: 'batch' }>): void {
    if (m.t === 'deliver') this.onDeliver(m.messages);
    else if (m.t === 'drain') this.onDrain();
    else if (m.t === 'unlisten') this.onUnlisten();
    else if (m.t === 'count') {
      void this.onCount().then(({ connections, clients }) => {
        this.tell({ sb: 1, t: 'counted', connections, clients });
        this.flush();
      });
    }
    else if (m.t === 'spent') this.onSpent(m.spends);
    else if (m.t === 'held' || m.t === 'gone') {
      if (this.onHeld === undefined || this.onGone === undefined) this.heldEarly.push(m);
      else if (m.t === 'held') this.onHeld(m.from, m.counts);
      else this.onGone(m.from);
    }
    else {
      const p = this.pending.get(m.id);
      if (!p) return; // answered after its timeout
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(m.code !== undefined && isErrorCode(m.code) ? new SwitchboardError(m.code, m.detail) : new Error(m.error));
    }
  }
}
