/**
 * `--worker-accept address`: the primary listens on the port itself and hands each connection,
 * unread, to the worker of its client's address, so that every connection of one address (an
 * IPv6 /64, as the caps count it: clientOf) is served by one worker, and the caps and budgets of
 * an address (sockets and connections per address, the connect and TLS handshake rates, a guest's
 * publishes and rooms) hold for the machine, not once per worker. With node:cluster's own
 * round-robin, n workers give one address n times each.
 *
 * The address picks one of the pool's slots (a hash); the slot's worker takes it, or, while that
 * one is away (restarting after a crash, or taking no new connection in a rolling restart), the
 * next slot's that accepts: an address moves only while its worker is away.
 */
import type { Worker } from 'node:cluster';
import net from 'node:net';
import { clientOf } from '../client-of.js';
import type { Logger } from '../logger.js';
import { LogLimiter } from '../session/log-limiter.js';

/** The message that comes with a handed connection (not `sb: 1`: it is no message of ipc-protocol's batches). */
export const HANDED_CONNECTION = { sbConnection: 1 } as const;

/** True for the message of a handed connection. */
export function isHandedConnection(m: unknown): boolean {
  return typeof m === 'object' && m !== null && (m as { sbConnection?: unknown }).sbConnection === 1;
}

/**
 * Connections waiting in the primary for their worker, at most: past it, a new connection is
 * closed at once (workers that stopped taking them would otherwise pile up open files in the
 * primary, which holds none of its own).
 */
export const MAX_WAITING = 4096;

/**
 * Connections of one address (clientOf) waiting in the primary, at most: past it, that address's
 * new connections are closed at once, so that one address's flood cannot fill MAX_WAITING and
 * have every other client's connections closed. Above what a worker lets an address hold at once
 * by default (`--max-connections-per-address` 200, plus 64 sockets).
 */
export const MAX_WAITING_PER_ADDRESS = 512;

export interface AddressAcceptorOptions {
  /** Slots of the pool (`--workers`): an address's slot is its hash modulo this. */
  slots: number;
  /** The worker that takes new connections for a slot, or the next slot's: undefined when none does. */
  acceptor: (slot: number) => Worker | undefined;
  logger: Logger;
}

/** The slot of a client (FNV-1a of its clientOf string): the same for every connection of an address. */
export function slotOf(client: string, slots: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < client.length; i++) h = Math.imul(h ^ client.charCodeAt(i), 0x01000193);
  return (h >>> 0) % slots;
}

/** A connection on its way to a worker: its client (clientOf) and the slot of it. */
interface Handed {
  socket: net.Socket;
  client: string;
  slot: number;
}

/**
 * Node's IPC sends one handle at a time to a worker (the next once the worker said it got the
 * last), and a handle in that queue goes to that worker whatever happens to it. So a worker is
 * given its next connection only once node wrote the last into its channel (node holds that one
 * until the worker acknowledged the one before: two at most on their way), and the others wait
 * in the primary, where they are sent to another worker when theirs stops taking connections (a
 * rolling restart drains it: what it was sent meanwhile it would have closed unanswered), as
 * node:cluster's round-robin does.
 */
export class AddressAcceptor {
  private readonly server: net.Server;
  private readonly warnings: LogLimiter;
  /** Connections waiting for each worker, oldest first. */
  private readonly waiting = new Map<Worker, Handed[]>();
  /** The connection each worker is being sent (in node's queue, its socket still open here). */
  private readonly sending = new Map<Worker, Handed>();
  /**
   * The handle of the last connection node wrote into each worker's channel: node keeps it open
   * until the worker acknowledges it, and a worker that dies first never does (node then holds it
   * for good, and its client waits for an answer that will not come).
   */
  private readonly written = new Map<Worker, { close(): void }>();
  private waitingCount = 0;
  /** Connections waiting, by client (only clients with some). */
  private readonly waitingBy = new Map<string, number>();
  /** Connections closed unhanded: no worker took them, or MAX_WAITING (or MAX_WAITING_PER_ADDRESS of theirs) waited. */
  refused = 0;

  constructor(private readonly o: AddressAcceptorOptions) {
    this.warnings = new LogLimiter(o.logger, 1);
    // Unread in the primary: the worker reads the first byte (a TLS handshake, a request, a PROXY header).
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
  }

  /** Listens; resolves with the bound port (what `--port 0` chose). Rejects as `listen` does (EADDRINUSE). */
  listen(port: number, host: string | undefined, backlog: number | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host, backlog }, () => {
        this.server.off('error', reject);
        // Accept errors from now on (EMFILE): node would throw them unhandled.
        this.server.on('error', (err: NodeJS.ErrnoException) => this.warnings.warn('accept', { err: err.message, code: err.code }, 'the primary could not accept a connection'));
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops listening (the workers keep serving what they were handed). */
  close(): void {
    this.server.close();
  }

  /**
   * Told when a slot's acceptor may have changed (a worker up, told to take no new connection,
   * drained or dead): what waits for a worker that no longer takes it goes to the one that does,
   * and a connection being sent to a worker that died is closed (its client retries at once,
   * instead of waiting for an answer that will not come).
   */
  reroute(): void {
    for (const [worker, handed] of this.sending) {
      if (worker.isDead()) {
        this.sending.delete(worker);
        handed.socket.destroy();
      }
    }
    for (const [worker, handle] of this.written) {
      if (worker.isDead()) {
        this.written.delete(worker);
        handle.close(); // a no-op when node closed it (the worker acknowledged it before it died)
      }
    }
    const all = [...this.waiting.values()].flat();
    this.waiting.clear();
    this.waitingCount = 0;
    this.waitingBy.clear();
    for (const handed of all) this.route(handed);
    for (const worker of this.waiting.keys()) this.pump(worker);
  }

  private accept(socket: net.Socket): void {
    // A socket already gone has no address; nothing to hand.
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy();
      return;
    }
    const client = clientOf(address);
    const worker = this.route({ socket, client, slot: slotOf(client, this.o.slots) });
    if (worker) this.pump(worker);
  }

  /** Queues `handed` for its slot's acceptor (or closes it when none takes it, or too many wait); returns that worker. */
  private route(handed: Handed): Worker | undefined {
    const worker = this.o.acceptor(handed.slot);
    const ofClient = this.waitingBy.get(handed.client) ?? 0;
    if (worker === undefined || this.waitingCount >= MAX_WAITING || ofClient >= MAX_WAITING_PER_ADDRESS) {
      this.refused++;
      const why = worker === undefined ? 'no worker takes connections' : this.waitingCount >= MAX_WAITING ? 'workers do not take the connections handed to them' : 'too many connections of one address wait for their worker';
      this.warnings.warn(why, { waiting: this.waitingCount, ...(worker ? { address: handed.client, ofAddress: ofClient } : {}) }, `${why}: one closed`);
      handed.socket.destroy();
      return undefined;
    }
    let queue = this.waiting.get(worker);
    if (!queue) this.waiting.set(worker, (queue = []));
    queue.push(handed);
    this.waitingCount++;
    this.waitingBy.set(handed.client, ofClient + 1);
    return worker;
  }

  /** Sends `worker` its next connection, unless one is on its way. */
  private pump(worker: Worker): void {
    if (this.sending.has(worker)) return;
    const queue = this.waiting.get(worker);
    const handed = queue?.shift();
    if (!handed) return;
    if (queue!.length === 0) this.waiting.delete(worker);
    this.waitingCount--;
    const left = this.waitingBy.get(handed.client)! - 1;
    if (left === 0) this.waitingBy.delete(handed.client);
    else this.waitingBy.set(handed.client, left);
    this.sending.set(worker, handed);
    // Node takes the socket's handle as it writes it (the socket object is left without one).
    const handle = (handed.socket as unknown as { _handle: { close(): void } | null })._handle;
    // Written, the primary's copy of the handle closes once the worker acknowledges it (keepOpen
    // false); a channel that closed meanwhile refuses it.
    worker.send(HANDED_CONNECTION, handed.socket, (err: Error | null) => {
      if (this.sending.get(worker) !== handed) return; // closed by reroute: its worker died
      this.sending.delete(worker);
      if (err) handed.socket.destroy();
      else if (handle) this.written.set(worker, handle); // the one before it was acknowledged: node wrote this one
      this.pump(worker);
    });
  }
}
