import type { PrimaryClient } from '../workers/primary-client.js';
import { roomOf, type Broker, type BrokerMessage } from './broker.js';

/** How long `watch` waits for the primary to confirm an interest. */
const WATCH_TIMEOUT_MS = 5000;

/**
 * The broker of a worker process (`--workers N` without Redis): fan-out through the primary
 * process, which relays each message to the other workers (src/server/workers/relay.ts). This
 * worker's own hub gets its messages at once, as with the local broker.
 *
 * The contract of Broker holds: at most once on the wire (a worker that dies takes what it had
 * not written to the channel with it; the hub fills gaps from the store), no order promised
 * across workers (IPC keeps each worker's own order). Per-room interest: once this node called
 * `watch` for any room, the primary sends it only the rooms it watches (and every disconnect
 * order); a node that never called `watch` gets every room, as from a broker without interest.
 * `watch` resolves when the primary confirmed it (rejects after 5 s without an answer). No
 * recentDisconnects: the workers' hubs keep the disconnect orders in the SQLite file they share
 * (MessageStore.keepDisconnect) and read them back as they start, whether the primary started
 * them later (a rolling restart) or the whole node restarted.
 */
export class IpcBroker implements Broker {
  readonly kind = 'ipc';
  private handler: (message: BrokerMessage) => void = () => {};
  /** Watches per room, and the confirmation of the first. */
  private readonly watched = new Map<string, { count: number; active: Promise<void> }>();
  private interest = false;
  private closed = false;
  constructor(private readonly primary: PrimaryClient) {}

  async init(): Promise<void> {
    this.primary.deliverTo((messages) => {
      for (const message of messages) if (!this.closed && this.wants(message)) this.handler(message);
    });
  }

  async publish(message: BrokerMessage): Promise<void> {
    if (this.closed) return;
    if (this.wants(message)) this.handler(message);
    // The worker's port sends a turn's publishes to the primary as one list (BatchingPort).
    this.primary.tell({ sb: 1, t: 'publish', messages: [message] });
  }

  onMessage(handler: (message: BrokerMessage) => void): void {
    this.handler = handler;
  }

  watch(room: string): Promise<void> {
    this.interest = true;
    const w = this.watched.get(room);
    if (w) {
      w.count++;
      return w.active;
    }
    const active = this.primary.request<void>({ op: 'watch', room }, WATCH_TIMEOUT_MS);
    const entry = { count: 1, active };
    this.watched.set(room, entry);
    // A refused watch is not kept: the next one asks again.
    active.catch(() => {
      if (this.watched.get(room) === entry) this.watched.delete(room);
    });
    return active;
  }

  unwatch(room: string): void {
    const w = this.watched.get(room);
    if (!w) return;
    if (--w.count > 0) return;
    this.watched.delete(room);
    this.primary.tell({ sb: 1, t: 'unwatch', room });
  }

  /** True while the primary can be reached (a worker whose primary is gone exits anyway). */
  async ping(): Promise<boolean> {
    return !this.closed && this.primary.connected;
  }

  async close(): Promise<void> {
    this.primary.flush();
    this.closed = true;
  }

  /** Whether this node's hub wants `message` (the primary applies the same rule to relayed ones). */
  private wants(message: BrokerMessage): boolean {
    if (!this.interest) return true;
    const room = roomOf(message);
    return room === undefined || this.watched.has(room);
  }
}
