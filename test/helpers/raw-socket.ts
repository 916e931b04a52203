import net from 'node:net';

/** A raw client socket and what became of it. */
export interface Raw {
  socket: net.Socket;
  /** Bytes the server sent. */
  received: string;
  /** When it closed, ms after it connected; undefined while open. */
  closedAfter: number | undefined;
}

/** Connects from `localAddress` (a loopback alias: 127.0.0.2, ...); resolves once the TCP handshake is done (the server may not have accepted it yet). */
export function connectRaw(port: number, localAddress: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const raw: Raw = { socket, received: '', closedAfter: undefined };
    let connectedAt = 0;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (raw.received += d));
    socket.on('close', () => (raw.closedAfter = performance.now() - connectedAt));
    socket.on('error', () => {}); // a reset shows as its close
    socket.once('connect', () => {
      connectedAt = performance.now();
      resolve(raw);
    });
    socket.once('error', reject);
  });
}
