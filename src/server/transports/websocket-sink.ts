import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { SwitchboardError } from '../../protocol/errors.js';
import type { Sink } from '../session/sink.js';
import { writeFrames } from '../ws-frame.js';

/**
 * A WebSocket as a session's sink: a Buffer is pre-built frames (a broadcast framed once), a
 * string is one text message. Closing with an error uses its close code and its code as reason.
 */
export class WebSocketSink implements Sink {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {}

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get stalled(): boolean {
    return this.socket.writableNeedDrain;
  }

  write(chunk: string | Buffer): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (typeof chunk === 'string') {
      // Answers written in one turn (the acks of a group commit, say) leave in one write: the
      // socket is corked until the turn's microtasks are done, instead of one syscall each.
      if (this.socket.writableCorked === 0) {
        this.socket.cork();
        process.nextTick(uncork, this.socket);
      }
      this.ws.send(chunk);
    } else writeFrames(this.ws, chunk);
  }

  close(err?: SwitchboardError): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) return;
    // A socket that took nothing for the write deadline would never read a close frame queued
    // behind what it left (ws then waits 30 s for the answer, holding the connection's slot and
    // its buffers): it is cut. A slow reader (SLOW_CONSUMER) still gets its close code.
    if (err?.code === 'WRITE_TIMEOUT') this.ws.terminate();
    else if (err) this.ws.close(err.closeCode ?? 1011, err.code);
    else this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}
