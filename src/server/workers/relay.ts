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
  /** Gathered in this turn of the primary, sent at its end as one `deliver`. */
  pending: BrokerMessage[];
}

/**
 * The primary's side of the IPC broker: hands each message a worker publishes to every other
 * worker that wants it (every disconnect order; a room's messages to the workers watching it, or
 * to those that never declared an interest). Each worker's messages are relayed in the order it
 * sent them, gathered per destination over one turn of the primary's event loop (one IPC message
 * per worker per turn: serializing and writing is most of the primary's cost per message);
 * nothing is kept for a worker that is gone, nor past MAX_WORKER_BACKLOG for one that does not read.
 */
export class Relay {
  private readonly nodes = new Map<number, Node>();
  /** Workers watching each room. */
  private readonly watchers = new Map<string, Set<number>>();
  private flushing = false;
  /** Messages not relayed to a worker whose channel was full (see MAX_WORKER_BACKLOG). */
  dropped = 0;

  constructor(private readonly onDrop: (worker: number, messages: number) => void = () => {}) {}

  /** A worker joined (forked): it gets every room until it watches one. */
  add(id: number, port: IpcPort<ToWorker>): void {
    this.nodes.set(id, { port, interest: false, rooms: new Set(), pending: [] });
  }

  /** A worker is gone: its interests with it. */
  remove(id: number): void {
    const node = this.nodes.get(id);
    if (!node) return;
    for (const room of node.rooms) this.unwatch(id, room);
    this.nodes.delete(id);
  }

  /** `from` published `messages` (in order): every other worker gets those it wants, at the end of this turn. */
  publish(from: number, messages: readonly BrokerMessage[]): void {
    for (const message of messages) {
      const room = roomOf(message);
      const watching = room === undefined ? undefined : this.watchers.get(room);
      for (const [id, node] of this.nodes) {
        if (id === from) continue;
        if (room === undefined || !node.interest || watching?.has(id)) node.pending.push(message);
      }
    }
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  /** `id` watches `room` (its broker counts its own watches and sends only the first). */
  watch(id: number, room: string): void {
    const node = this.nodes.get(id);
    if (!node) return;
    this.flushNode(id, node); // what it was sent before watching keeps its place ahead of what follows
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

  private flush(): void {
    this.flushing = false;
    for (const [id, node] of this.nodes) this.flushNode(id, node);
  }

  private flushNode(id: number, node: Node): void {
    const messages = node.pending;
    if (messages.length === 0) return;
    node.pending = [];
    if ((node.port.backlog?.() ?? 0) >= MAX_WORKER_BACKLOG) {
      this.dropped += messages.length;
      this.onDrop(id, messages.length);
      return;
    }
    node.port.send({ sb: 1, t: 'deliver', messages });
  }
}
