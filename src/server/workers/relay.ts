import type { BrokerMessage } from '../broker/broker.js';
import { roomOf } from '../broker/broker.js';
import type { IpcPort, ToWorker } from './ipc-protocol.js';

/**
 * Messages waiting in the IPC channel of one worker (sent by the primary, not yet taken by the
 * channel) past which the relay stops sending to it: a worker that does not read its channel
 * (stuck, or far behind) must not make the primary hold an unbounded queue. What it misses is
 * counted (`dropped`) and reported (`onDrop`); as with any broker, its hubs repair the gap from
 * the store when the room's next message arrives.
 */
export const MAX_WORKER_BACKLOG = 4096;

interface Node {
  port: IpcPort<ToWorker>;
  /** False until the node's first watch: until then it gets every room. */
  interest: boolean;
  rooms: Set<string>;
}

/**
 * The primary's side of the IPC broker: hands each message a worker publishes to every other
 * worker that wants it (every disconnect order; a room's messages to the workers watching it, or
 * to those that never declared an interest). Each worker's messages are relayed in the order it
 * sent them. The ports gather what goes to each worker over one turn of the primary's event loop
 * (BatchingPort: one IPC message per worker per turn, as serializing and writing is most of the
 * primary's cost per message); nothing is sent to a worker that is gone, nor past
 * MAX_WORKER_BACKLOG to one that does not read. It remembers no disconnect order: the worker
 * that takes one keeps it in the SQLite file the workers share before publishing it, and the
 * workers that start later (a rolling restart's, a whole node's restart) read it there.
 */
export class Relay {
  private readonly nodes = new Map<number, Node>();
  /** Workers watching each room. */
  private readonly watchers = new Map<string, Set<number>>();
  /** Messages not relayed to a worker whose channel was full (see MAX_WORKER_BACKLOG). */
  dropped = 0;

  constructor(private readonly onDrop: (worker: number, messages: number) => void = () => {}) {}

  /** A worker joined (forked): it gets every room until it watches one. */
  add(id: number, port: IpcPort<ToWorker>): void {
    this.nodes.set(id, { port, interest: false, rooms: new Set() });
  }

  /** A worker is gone: its interests with it. */
  remove(id: number): void {
    const node = this.nodes.get(id);
    if (!node) return;
    for (const room of node.rooms) this.unwatch(id, room);
    this.nodes.delete(id);
  }

  /** `from` published `messages` (in order): every other worker is sent those it wants. */
  publish(from: number, messages: readonly BrokerMessage[]): void {
    for (const [id, node] of this.nodes) {
      if (id === from) continue;
      const wanted = node.interest ? messages.filter((m) => this.wants(id, m)) : messages;
      if (wanted.length === 0) continue;
      if ((node.port.backlog?.() ?? 0) >= MAX_WORKER_BACKLOG) {
        this.dropped += wanted.length;
        this.onDrop(id, wanted.length);
        continue;
      }
      node.port.send({ sb: 1, t: 'deliver', messages: wanted as BrokerMessage[] });
    }
  }

  /** Whether worker `id`, which declared an interest, wants `message`: every disconnect order, the rooms it watches. */
  private wants(id: number, message: BrokerMessage): boolean {
    const room = roomOf(message);
    return room === undefined || this.watchers.get(room)?.has(id) === true;
  }

  /** `id` watches `room` (its broker counts its own watches and sends only the first). */
  watch(id: number, room: string): void {
    const node = this.nodes.get(id);
    if (!node) return;
    node.interest = true;
    node.rooms.add(room);
    let set = this.watchers.get(room);
    if (!set) this.watchers.set(room, (set = new Set()));
    set.add(id);
  }

  unwatch(id: number, room: string): void {
    this.nodes.get(id)?.rooms.delete(room);
    const set = this.watchers.get(room);
    if (!set) return;
    set.delete(id);
    if (set.size === 0) this.watchers.delete(room);
  }

  /** Rooms watched by at least one worker (for logs and tests). */
  get watchedRooms(): number {
    return this.watchers.size;
  }
}
