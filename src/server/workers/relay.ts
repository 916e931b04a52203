import type { BrokerMessage } from '../broker/broker.js';
import { roomOf } from '../broker/broker.js';
import type { IpcPort, ToWorker } from './ipc-protocol.js';

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
 * sent them; nothing is kept for a worker that is gone.
 */
export class Relay {
  private readonly nodes = new Map<number, Node>();
  /** Workers watching each room. */
  private readonly watchers = new Map<string, Set<number>>();

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

  /** `from` published `message`: every other worker that wants it gets it. */
  publish(from: number, message: BrokerMessage): void {
    const room = roomOf(message);
    const out: ToWorker = { sb: 1, t: 'deliver', message };
    const watching = room === undefined ? undefined : this.watchers.get(room);
    for (const [id, node] of this.nodes) {
      if (id === from) continue;
      if (room === undefined || !node.interest || watching?.has(id)) node.port.send(out);
    }
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
