import { io, type Socket } from 'socket.io-client';
import { BenchClient } from './bench-client.js';

/** The part of engine.io-client's WebSocket transport a cut needs: the `ws` socket under it. */
interface EngineWithWs {
  transport?: { ws?: { terminate?: () => void } };
}

/**
 * A Socket.IO 4 client (WebSocket transport) of bench/servers/socket-io-recovery-server.mjs:
 * joins its room by query, gets `message` events `{seq, text}`. Reconnections are ours (the
 * manager's own are off, so both servers see the same cuts and the same time away); Socket.IO's
 * connection state recovery replays what was missed, which the client checks (`recovered`).
 */
export class SioBenchClient extends BenchClient {
  private socket: Socket | undefined;
  private attemptOfSocket = 0;

  protected open(): void {
    this.attemptOfSocket = this.attempt;
    if (this.socket) {
      this.socket.connect();
      return;
    }
    const { baseUrl, localAddress, room } = this.setup;
    const socket = io(baseUrl, { transports: ['websocket'], reconnection: false, forceNew: true, query: { room }, ...{ localAddress } });
    this.socket = socket;
    // On recovery the server sends the missed packets before its CONNECT packet: the client
    // emits them before 'connect', with `connected` already true, so the connection is up then.
    const connected = (): void => {
      if (this.connected) return;
      if (this.downAt !== undefined && !socket.recovered) this.error('not recovered');
      this.up(this.attemptOfSocket);
    };
    socket.on('connect', connected);
    socket.on('message', (m: { seq: number; text: string }) => {
      if (socket.connected) connected();
      this.entry(this.attemptOfSocket, m.seq, m.text);
    });
    socket.on('connect_error', (err: Error) => this.down(this.attemptOfSocket, `connect_error ${err.message.slice(0, 40)}`));
    socket.on('disconnect', (reason: string) => this.down(this.attemptOfSocket, reason));
  }

  protected cutConnection(): void {
    (this.socket?.io.engine as EngineWithWs | undefined)?.transport?.ws?.terminate?.();
  }

  protected shut(): void {
    this.socket?.disconnect();
  }

  /** Socket.IO keeps its own position (pid and offset). */
  protected cursor(): string | undefined {
    return undefined;
  }
}
