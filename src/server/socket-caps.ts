import { readFileSync } from 'node:fs';
import type { Server as NetServer, Socket } from 'node:net';
import { clientOf } from './client-of.js';

/**
 * Open files the default of `--max-sockets` leaves to the rest of the process: the store (SQLite
 * files and their journals), Redis connections, log files, the metrics port, IPC with the primary.
 */
export const RESERVED_FILES = 256;

/**
 * Sockets past `--max-connections` the default of `--max-sockets` wants room for, where the
 * open-file limit is unknown: short requests, keep-alive connections between two requests,
 * connections before their upgrade.
 */
export const SOCKETS_PAST_CONNECTIONS = 1024;

/** The default of `--max-sockets` where the open-file limit cannot be read (not Linux) or is unlimited. */
export const FALLBACK_MAX_SOCKETS = 20_000;

/**
 * The soft limit of open files of this process (`ulimit -n`; Node raises it to the hard limit at
 * start-up), read from Linux's /proc/self/limits; undefined where that cannot be read or says
 * `unlimited`.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+)\s/m.exec(text)?.[1];
  return soft === undefined ? undefined : Number(soft);
}

/**
 * The cap of open sockets when `--max-sockets` is not given: the open-file limit (openFileLimit)
 * less RESERVED_FILES, so that sockets cannot take the files the store, Redis and logs need (at
 * least 1); where the limit is unknown, FALLBACK_MAX_SOCKETS or `maxConnections` +
 * SOCKETS_PAST_CONNECTIONS, whichever is more. A limit too small for `maxConnections` wins over
 * it (past the limit, accepting fails anyway, and so does opening a store file): the server warns
 * at start-up instead.
 */
export function defaultMaxSockets(maxConnections: number, limit: number | undefined): number {
  if (limit === undefined) return Math.max(FALLBACK_MAX_SOCKETS, maxConnections + SOCKETS_PAST_CONNECTIONS);
  return Math.max(1, limit - RESERVED_FILES);
}

/**
 * Sockets of `--max-sockets` the main port leaves to the metrics port, when there is one (at
 * most what `--max-connections` leaves free): a flood that fills the main port then does not
 * refuse the probes pointed at the metrics port too, which would have an orchestrator restart a
 * process that is only busy.
 */
export const OPERATIONS_SOCKETS = 16;

/**
 * Which cap refused a socket: the one of the whole process (its SocketBudget), the one of its
 * address, or its address's rate of new sockets (a TLS server's, where each is a handshake).
 */
export type SocketCap = 'server' | 'address' | 'rate';

/**
 * The open sockets one process may hold (`--max-sockets`), counted together over every server it
 * listens with (the main port, the metrics port): the open-file limit they come out of is the
 * process's, not a port's. One per Switchboard (a `serve` process, or a worker, runs one).
 */
export class SocketBudget {
  private open = 0;

  constructor(readonly max: number) {}

  /** True when a server that leaves `leave` of the budget to others must refuse the next socket. */
  full(leave = 0): boolean {
    return this.open >= this.max - leave;
  }

  /** Counts an accepted socket; once per socket, and only when not `full`. */
  take(): void {
    this.open++;
  }

  /** A counted socket closed. */
  release(): void {
    this.open--;
  }
}

export interface SocketCaps {
  /** Open sockets of the process, every server and address together; shared with the other servers it caps. */
  budget: SocketBudget;
  /** Sockets of the budget this server never takes, left to the others (default 0). */
  leave?: number;
  /**
   * Open sockets of one address (an IPv6 host: its /64); undefined: not counted per address
   * (behind a proxy, every socket is the proxy's).
   */
  perAddress: number | undefined;
  /**
   * Whether the address (as `perAddress` counts it) may open one more socket now, spending a unit
   * of its rate when it may; asked only of a socket that the other caps let in. A TLS server's:
   * every new socket is a handshake to compute, 0.6-0.8 ms of CPU, before any request can be
   * refused. Undefined: no rate.
   */
  rate?: (address: string) => boolean;
  /** Told of each refused socket before it is destroyed (its address still readable). */
  onRefused(socket: Socket, cap: SocketCap): void;
  /**
   * Learns who a socket's client is before the caps of its address count it: calls `next` once
   * the socket tells its client's address (a load balancer's PROXY protocol header read, see
   * proxy-protocol.ts), or destroys the socket. The socket holds a unit of `budget` meanwhile.
   * Undefined: a socket's peer is its client.
   */
  readClient?: (socket: Socket, next: () => void) => void;
}

/**
 * Destroys, at once and unanswered, each TCP connection the server accepts while its `budget` is
 * full (the sockets of every server sharing it, less what it leaves to the others), or past
 * `perAddress` open sockets of its address: neither many addresses (a botnet,
 * or sockets that never send a request, held until `--headers-timeout-ms`) nor one address can
 * take every file descriptor of the process, and with them the store's, Redis's and the logs'.
 * And each one past its address's `rate` of new sockets (a TLS server's: one address cannot make
 * the server compute handshakes in a loop). Over TLS too, before the handshake; an HTTP/2
 * connection counts once, however many streams it carries (bounded per connection by the secure
 * server; long-lived ones count against the caps per address and member of Limits, each as one
 * connection).
 *
 * The check runs before the `connection` listeners the server had when capSockets was called
 * (node's own, which make an HTTP parser or a TLS socket for the connection, among them): they
 * are called only for a socket let in. A refused socket costs its accept and its close, some
 * 250 µs of CPU here, where a TLS socket made for it cost as much again (measured with a
 * throwaway server refusing every connection of one client's loop: 530 µs each then).
 *
 * Done in the `connection` listener, not with net.Server's `maxConnections`: in a worker of
 * node:cluster's round-robin (`--workers` with `--worker-accept primary`, the default), a worker
 * at `maxConnections` hands the connection back to the primary, which offers it to the workers
 * again at once, a busy loop between the processes, and never closes it (Node 20).
 */
export function capSockets(server: NetServer, caps: SocketCaps): void {
  const { budget, leave = 0, perAddress, rate, onRefused, readClient } = caps;
  const byAddress = new Map<string, number>();
  // One listener for every socket, no closure per connection: a socket keeps the peer address it
  // was first asked for, also once closed.
  function closed(this: Socket): void {
    budget.release();
    if (perAddress === undefined) return;
    const address = clientOf(this.remoteAddress ?? 'unknown');
    const left = (byAddress.get(address) ?? 1) - 1;
    if (left <= 0) byAddress.delete(address);
    else byAddress.set(address, left);
  }
  const letIn = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    if (budget.full(leave)) {
      onRefused(socket, 'server');
      socket.destroy();
      return;
    }
    if (readClient === undefined) {
      letInByAddress(socket);
      return;
    }
    // Counted in the budget while its client is read, then by the address it names.
    budget.take();
    socket.on('close', waiting);
    readClient(socket, () => {
      socket.off('close', waiting);
      budget.release();
      letInByAddress(socket);
    });
  });
  function waiting(this: Socket): void {
    budget.release();
  }
  /** The caps of the socket's address, then the listeners: for a socket the budget lets in. */
  function letInByAddress(socket: Socket): void {
    if (perAddress !== undefined || rate !== undefined) {
      // An IPv6 host's sockets count together, whichever address of its /64 they come from.
      const address = clientOf(socket.remoteAddress ?? 'unknown');
      const n = (byAddress.get(address) ?? 0) + 1;
      if (perAddress !== undefined && n > perAddress) {
        onRefused(socket, 'address');
        socket.destroy();
        return;
      }
      if (rate !== undefined && !rate(address)) {
        onRefused(socket, 'rate');
        socket.destroy();
        return;
      }
      if (perAddress !== undefined) byAddress.set(address, n);
    }
    budget.take();
    socket.on('close', closed); // 'close' comes once per socket
    for (const listener of letIn) listener.call(server, socket);
  }
}
