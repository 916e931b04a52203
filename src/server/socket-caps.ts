import type { Server as NetServer, Socket } from 'node:net';
import type { Metrics } from './metrics.js';
import { clientOf } from './session/handshake.js';

/**
 * Refuses TCP connections past `max` open ones from one address (they are destroyed at once),
 * so idle or half-sent sockets of one client cannot hold every file descriptor. Over TLS too,
 * before the handshake; an HTTP/2 connection counts once, however many streams it carries
 * (bounded per connection by the secure server; long-lived ones count against the caps per
 * address and member of Limits, each as one connection). Each refusal is counted as
 * TOO_MANY_CONNECTIONS_FROM_YOU in `switchboard_errors_total`.
 */
export function capSocketsPerAddress(server: NetServer, max: number, metrics: Metrics): void {
  const open = new Map<string, number>();
  // One listener for every socket, no closure per connection: a socket keeps the peer address it
  // was first asked for, also once closed.
  function closed(this: Socket): void {
    const address = clientOf(this.remoteAddress ?? 'unknown');
    const left = (open.get(address) ?? 1) - 1;
    if (left <= 0) open.delete(address);
    else open.set(address, left);
  }
  server.on('connection', (socket: Socket) => {
    // An IPv6 host's sockets count together, whichever address of its /64 they come from.
    const address = clientOf(socket.remoteAddress ?? 'unknown');
    const n = (open.get(address) ?? 0) + 1;
    if (n > max) {
      metrics.errors.inc({ code: 'TOO_MANY_CONNECTIONS_FROM_YOU' });
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.on('close', closed); // 'close' comes once per socket
  });
}
