import type WebSocket from 'ws';
import { turnBudget as budget } from '../turn-budget.js';
import type { ServerWebSocket } from './server-websocket.js';

/** What runs a connection's frames: a protocol's connection (native or the lecture's). */
export interface FrameHandler {
  handleFrame(data: Buffer, isBinary: boolean): Promise<void>;
  /** True once its session is closed: frames are dropped from then on. */
  readonly stopped: boolean;
}

/** Frames waiting for their turn past which the socket stops being read (TCP pushes back). */
const PAUSE_AT = 64;
const RESUME_AT = 16;

/**
 * Runs a WebSocket's incoming frames one after the other, in the order they came: a command
 * cannot overtake the one before it (an `unsubscribe` its `subscribe`), and an answer always
 * leaves before a close that follows. A client that sends faster than its frames run is no
 * longer read until they catch up, so its frames cost bounded memory and time.
 */
export class FrameQueue {
  private readonly queue: { data: Buffer; isBinary: boolean }[] = [];
  private running = false;

  constructor(
    private readonly ws: ServerWebSocket,
    private readonly handler: FrameHandler,
  ) {
    ws.frames = this;
    ws.on('message', onMessage);
  }

  push(data: Buffer, isBinary: boolean): void {
    if (this.handler.stopped) return;
    this.queue.push({ data, isBinary });
    if (this.queue.length >= PAUSE_AT && !this.ws.isPaused) this.ws.pause();
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.handler.stopped) {
      // ws hands over every frame of what the socket read at once, whatever pause() says: the
      // shared budget keeps one burst (or many) from holding the event loop.
      await budget.turn();
      if (this.handler.stopped) break;
      const { data, isBinary } = this.queue.shift()!;
      if (this.queue.length <= RESUME_AT && this.ws.isPaused) this.ws.resume();
      await this.handler.handleFrame(data, isBinary);
    }
    this.queue.length = 0;
    // A session closed while the socket was paused must read again: its close frame's answer
    // (and the TCP end) come through the socket, and ws would otherwise wait out its 30 s close timeout.
    if (this.ws.isPaused) this.ws.resume();
    this.running = false;
  }
}

/** Every socket's 'message' listener (one function: see ServerWebSocket; `this` is one, the servers' WebSocket option). */
function onMessage(this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as ServerWebSocket).frames?.push(data, isBinary);
}
