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
    if (typeof chunk === 'string') this.ws.send(chunk);
    else writeFrames(this.ws, chunk);
  }

  close(err?: SwitchboardError): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING) return;
    if (err) this.ws.close(err.closeCode ?? 1011, err.code);
    else this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }
}
