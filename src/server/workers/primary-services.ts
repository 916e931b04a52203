import { SwitchboardError } from '../../protocol/errors.js';
import type { PresenceStore } from '../presence/presence-store.js';
import type { MessageStore } from '../store/message-store.js';
import { ALL_PEERS, type Held } from '../session/limits.js';
import { eachOurs, type IpcPort, type PrimaryCall, type ToPrimary, type ToWorker, type WorkerIdentity } from './ipc-protocol.js';
import { runPresenceCall } from './presence-host.js';
import { MAX_WORKER_BACKLOG, Relay } from './relay.js';

/** What the primary's services are built from. */
export interface PrimaryServicesOptions {
  /** The presence store every worker shares (a MemoryPresenceStore). */
  presence: PresenceStore;
  /** The presence-ticket key handed to every worker (base64). */
  presenceKey: string;
  /** Every worker's metrics, aggregated (prom-client's clusterMetrics): one gather, asked from every worker over IPC. */
  metrics: () => Promise<string>;
  /**
   * The store the workers append through (the SQLite file they share, opened by the primary):
   * the one process that appends, so that the workers never wait for each other's write lock.
   * None (`--worker-appends own`: each worker commits its own): an `append` call fails.
   */
  store?: Pick<MessageStore, 'append'>;
  /** Told when messages were not relayed to a worker that does not read its channel (see relay.ts). */
  onRelayDrop?: (worker: number, messages: number) => void;
}

/**
 * What the primary does for its workers, whatever carries the messages (cluster IPC in the
 * primary, MessagePorts in tests): relays broker messages (Relay) and what each worker's clients
 * spent of their budgets (to every other worker), keeps each worker's room
 * interests, answers presence calls against the one shared store, appends the workers' entries
 * to the SQLite file they share when given its store (`--worker-appends primary`), tells each worker who it is,
 * and collects metrics (concurrent scrapes share one gather). Requests are answered in the order they complete; a failed one is
 * answered with its error's message.
 */
export class PrimaryServices {
  readonly relay: Relay;
  private readonly ports = new Map<number, IpcPort<ToWorker>>();
  /** Each worker's latest counts of connections per address and member (shared-limits.ts), those at 0 forgotten. */
  private readonly held = new Map<number, Map<string, Held>>();
  /** Workers that missed counts (their channel was full): sent every worker's counts once they read again. */
  private readonly missedCounts = new Set<number>();
  /** Spends (entries: a client's units of one budget) not passed to a worker whose channel was full (switchboard_primary_spends_dropped_total). */
  spendsDropped = 0;
  /** The gather of every worker's metrics in flight: the scrapes that come meanwhile share it. */
  private gathering: Promise<string> | undefined;

  constructor(private readonly o: PrimaryServicesOptions) {
    this.relay = new Relay(o.onRelayDrop);
  }

  /** Worker `id` joined, reachable through `port`. */
  attach(id: number, port: IpcPort<ToWorker>): void {
    this.ports.set(id, port);
    this.relay.add(id, port);
    // What the others hold: the caps of a new worker count it from its first connection.
    this.sendAllCounts(id, port);
  }

  /** Every other worker's counts, to worker `id`. */
  private sendAllCounts(id: number, port: IpcPort<ToWorker>): void {
    for (const [other, counts] of this.held) if (other !== id && counts.size > 0) port.send({ sb: 1, t: 'held', from: `w${other}`, counts: [...counts.values()] });
  }

  /**
   * What a worker's clients spent or hold, to every other worker, as the relay bounds its
   * messages: not to one whose channel holds MAX_WORKER_BACKLOG messages unread (a worker that
   * does not read would have the primary keep them all). Spends missed are lost (a budget a
   * little looser for a moment); counts missed are made good once the worker reads again, by all
   * of them.
   */
  private toOthers(id: number, m: Extract<ToWorker, { t: 'spent' | 'held' | 'gone' }>): void {
    for (const [other, port] of this.ports) {
      if (other === id) continue;
      if ((port.backlog?.() ?? 0) >= MAX_WORKER_BACKLOG) {
        if (m.t === 'spent') this.spendsDropped += m.spends.length;
        else this.missedCounts.add(other);
        continue;
      }
      if (this.missedCounts.delete(other)) {
        // What it holds of the others may be wrong in any way (a worker gone unsaid): all of it
        // anew, which holds what `m` says when it is a count; spends go as well.
        port.send({ sb: 1, t: 'gone', from: ALL_PEERS });
        this.sendAllCounts(other, port);
        if (m.t === 'spent') port.send(m);
      } else port.send(m);
    }
  }

  /** Worker `id` is gone. */
  detach(id: number): void {
    this.ports.delete(id);
    this.relay.remove(id);
    this.missedCounts.delete(id);
    if (this.held.delete(id)) this.toOthers(id, { sb: 1, t: 'gone', from: `w${id}` });
  }

  /** A message from worker `id`, or a batch of them (anything not ours is ignored). */
  receive(id: number, m: unknown): void {
    eachOurs<ToPrimary>(m, (message) => this.handle(id, message));
  }

  private handle(id: number, m: Exclude<ToPrimary, { t: 'batch' }>): void {
    switch (m.t) {
      case 'publish':
        this.relay.publish(id, m.messages);
        return;
      case 'unwatch':
        this.relay.unwatch(id, m.room);
        return;
      case 'ready':
        return; // the worker pool's business
      case 'spent':
        // Every other worker charges them too: one budget per client for the machine (shared-limits.ts).
        this.toOthers(id, m);
        return;
      case 'held': {
        let counts = this.held.get(id);
        if (counts === undefined) this.held.set(id, (counts = new Map()));
        for (const held of m.counts) {
          const key = `${held[0]}\n${held[1]}`;
          if (held[2] > 0) counts.set(key, held);
          else counts.delete(key);
        }
        this.toOthers(id, { sb: 1, t: 'held', from: `w${id}`, counts: m.counts });
        return;
      }
      case 'req':
        this.answer(id, m.call).then(
          (value) => this.ports.get(id)?.send({ sb: 1, t: 'res', id: m.id, ok: true, value: value ?? null }),
          (err: unknown) =>
            this.ports.get(id)?.send({
              sb: 1,
              t: 'res',
              id: m.id,
              ok: false,
              error: (err as Error).message,
              // A catalog error goes back as such (an append's ROOM_NOT_FOUND, CLIENT_ID_CONFLICT...).
              ...(err instanceof SwitchboardError ? { code: err.code, ...(err.detail !== undefined ? { detail: err.detail } : {}) } : {}),
            }),
        );
    }
  }

  private async answer(id: number, call: PrimaryCall): Promise<unknown> {
    switch (call.op) {
      case 'hello':
        return { node: `w${id}`, presenceKey: this.o.presenceKey } satisfies WorkerIdentity;
      case 'watch':
        this.relay.watch(id, call.room);
        return undefined;
      case 'presence':
        return runPresenceCall(this.o.presence, call.call);
      case 'metrics':
        return this.metrics();
      case 'append':
        if (!this.o.store) throw new Error('the primary holds no store to append to');
        return this.o.store.append(call.draft);
    }
  }

  /**
   * The aggregated metrics, one gather for all the scrapes that come while it runs (each was one
   * round of IPC to every worker: a thousand scrapes at once kept the primary busy 2.6 s). A
   * scrape never gets the answer of a gather that began before it unless that gather is still
   * running; the first one after it settles starts the next.
   */
  private metrics(): Promise<string> {
    this.gathering ??= this.o.metrics().finally(() => (this.gathering = undefined));
    return this.gathering;
  }
}
