/**
 * The messages between the primary process and its workers (`--workers N`), over node's IPC
 * channel (JSON). Every message carries `sb: 1`, so the listeners of other libraries on the same
 * channel (prom-client's metrics requests) and ours ignore each other's.
 */
import type { EntryDraft, PresenceMember } from '../../protocol/types.js';
import type { ErrorCode } from '../../protocol/errors.js';
import type { BrokerMessage } from '../broker/broker.js';
import type { ServerConfig } from '../config.js';
import type { Held, Spend } from '../session/limits.js';
import type { GoneMember, PresenceAdded, PresenceConnection, PresenceLookup, PresenceRemoved } from '../presence/presence-store.js';

/** True when the primary appends the workers' entries (`--worker-appends primary`, the SQLite store without Redis). */
export function primaryAppends(config: Pick<ServerConfig, 'redisUrl' | 'store' | 'workerAppends'>): boolean {
  return config.workerAppends === 'primary' && config.redisUrl === undefined && config.store === 'sqlite';
}

/** The environment variable that tells a process forked by the primary that it is one of its workers. */
export const WORKER_ENV = 'SWITCHBOARD_WORKER';

/** A presence store call, as the worker's IpcPresenceStore sends it to the primary's store. */
export type PresenceCall =
  | { method: 'add'; room: string; conn: PresenceConnection; expiresAt: number; restore?: boolean }
  | { method: 'release'; room: string; member: string; id: string }
  | { method: 'remove'; room: string; member: string; connectionId: string; node?: string }
  /** Answered with the indexes, in `conns`, of the connections the store did not refresh. */
  | { method: 'refresh'; conns: { room: string; member: string; id: string }[]; expiresAt: number; node?: string }
  /** `limit` absent: every member. */
  | { method: 'members'; room: string; now: number; limit?: number; nodes?: boolean }
  | { method: 'lookup'; room: string; members: string[]; now: number; cap: number }
  /** Answered with [room, count] pairs. */
  | { method: 'counts'; rooms: string[]; now: number }
  | { method: 'reap'; now: number };

/** What a presence call answers, by method. */
export interface PresenceAnswers {
  add: PresenceAdded;
  release: PresenceRemoved;
  remove: PresenceRemoved;
  refresh: number[];
  members: PresenceMember[];
  lookup: PresenceLookup;
  counts: [string, number][];
  reap: GoneMember[];
}

/** What a worker is given by the primary before it builds its server. */
export interface WorkerIdentity {
  /** This worker's node id (distinct per worker, new for a restarted one): the `x-switchboard-node` header. */
  node: string;
  /** The presence-ticket key every worker shares (base64), for when no secret gives one. */
  presenceKey: string;
}

/** A request of a worker, answered by one `res` with its `id`. */
export type PrimaryCall =
  | { op: 'hello' }
  | { op: 'watch'; room: string }
  | { op: 'presence'; call: PresenceCall }
  | { op: 'metrics' }
  /**
   * An entry to store, with `--worker-appends primary`: the primary is then the one process that
   * appends to the SQLite file the workers share (see SqliteStoreOptions.appendVia), answered with
   * the AppendResult once committed.
   */
  | { op: 'append'; draft: EntryDraft };

/** What a worker answers the primary's `count` (`counted`, below). */
export type ConnectionCount = { connections: number; clients: number };

/** Worker → primary. */
export type ToPrimary =
  /** What the worker published, in order (the port merges a turn's consecutive publishes into one list: batching-port.ts). */
  | { sb: 1; t: 'publish'; messages: BrokerMessage[] }
  | { sb: 1; t: 'unwatch'; room: string }
  /** The worker listens (on `port`): it takes connections from now on. */
  | { sb: 1; t: 'ready'; port: number }
  /** The worker takes no new connection from now on (the answer to `unlisten`). */
  | { sb: 1; t: 'unlistened' }
  /**
   * The answer to `count`: the sockets the worker holds open (`connections`: a primary of an
   * earlier build reads these), and its clients among them (`clients`: WebSockets, SSE streams,
   * held long polls; not an idle keep-alive socket or a request being answered), which a roll
   * counts: a publisher's idle keep-alive sockets closing on a new worker no longer hide the
   * drained worker's clients coming back.
   */
  | ({ sb: 1; t: 'counted' } & ConnectionCount)
  | { sb: 1; t: 'req'; id: number; call: PrimaryCall }
  /** What the worker's clients spent of their budgets in one turn, for the other workers to charge (shared-limits.ts). */
  | { sb: 1; t: 'spent'; spends: Spend[] }
  /** How many connections addresses and members now hold on the worker (their latest counts of a turn; shared-limits.ts). */
  | { sb: 1; t: 'held'; counts: Held[] }
  /** What the worker sent in one turn, in order, as one IPC message (batching-port.ts). */
  | { sb: 1; t: 'batch'; messages: ToPrimary[] };

/** Primary → worker. */
export type ToWorker =
  /** What other workers published that this one wants, gathered over one turn of the primary, in order. */
  | { sb: 1; t: 'deliver'; messages: BrokerMessage[] }
  | { sb: 1; t: 'res'; id: number; ok: true; value: unknown }
  /** A failed call: its message, and for a catalog error (a store's ROOM_NOT_FOUND, say) its code and detail, to be thrown again as such. */
  | { sb: 1; t: 'res'; id: number; ok: false; error: string; code?: ErrorCode; detail?: string }
  /** Close gracefully (a rolling restart, or the primary's shutdown), then exit 0. */
  | { sb: 1; t: 'drain' }
  /** Take no new connection, serve the open ones (a rolling restart: a new worker takes them, and this one is drained later). */
  | { sb: 1; t: 'unlisten' }
  /** Say how many sockets and clients you hold open (a rolling restart waits for a drained worker's clients to be back on the others). */
  | { sb: 1; t: 'count' }
  /** What another worker's clients spent of their budgets (relayed as it came), to charge here too. */
  | { sb: 1; t: 'spent'; spends: Spend[] }
  /** How many connections addresses and members hold on another worker (`from`), their latest counts. */
  | { sb: 1; t: 'held'; from: string; counts: Held[] }
  /** A worker that exited (`from`; `*`: every other worker, whose counts come again after it): what it held no longer counts. */
  | { sb: 1; t: 'gone'; from: string }
  /** What the primary sent this worker in one turn, in order, as one IPC message (batching-port.ts). */
  | { sb: 1; t: 'batch'; messages: ToWorker[] };

/** True when `m` is one of ours (and not, say, prom-client's). */
export function isOurs<T extends ToPrimary | ToWorker>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && (m as { sb?: unknown }).sb === 1 && typeof (m as { t?: unknown }).t === 'string';
}

/** Calls `handle` with each of our messages in `m`, in order: `m` itself, or each of a batch; anything not ours is ignored. */
export function eachOurs<T extends ToPrimary | ToWorker>(m: unknown, handle: (message: Exclude<T, { t: 'batch' }>) => void): void {
  if (!isOurs<T>(m)) return;
  if (m.t === 'batch') for (const inner of (m as { messages: unknown[] }).messages) eachOurs<T>(inner, handle);
  else handle(m as Exclude<T, { t: 'batch' }>);
}

/**
 * One end of an IPC channel: a worker's own `process` (towards the primary), a cluster `Worker`
 * in the primary, or a MessagePort in tests. `send` never throws: a message to a closed channel
 * is dropped (the process at the other end is gone, and its successor starts afresh).
 */
export interface IpcPort<Out, In = unknown> {
  send(message: Out): void;
  /** Adds a listener of incoming messages; returns the function that removes it. */
  onMessage(handler: (message: In) => void): () => void;
  /** True while the other end can be reached. */
  connected(): boolean;
  /** Messages sent but not yet handed to the channel (the other end reads slowly or not at all); absent: always 0. */
  backlog?(): number;
  /** Sends at once what this end holds back to send together (BatchingPort); absent: nothing is held. */
  flush?(): void;
}

/** A node `process`-like end (a cluster worker's `process`, a `cluster.Worker`, a forked child). */
export interface NodeIpcEnd {
  send?(message: unknown, callback?: (err: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  readonly connected?: boolean;
  isConnected?(): boolean;
}

/** Wraps a node IPC end (`process` in a worker, a `cluster.Worker` in the primary) as an IpcPort. */
export function nodePort<Out, In = unknown>(end: NodeIpcEnd): IpcPort<Out, In> {
  const connected = (): boolean => (end.isConnected ? end.isConnected() : end.connected === true);
  let unsent = 0;
  const sent = (): void => void unsent--;
  return {
    send(message) {
      if (!connected() || !end.send) return;
      unsent++;
      // An error here means the other end went away meanwhile: the message is dropped (see IpcPort).
      end.send(message, sent);
    },
    backlog: () => unsent,
    onMessage(handler) {
      const listener = (m: unknown): void => handler(m as In);
      end.on('message', listener);
      return () => void end.off('message', listener);
    },
    connected,
  };
}
