import type WebSocket from 'ws';
import { turnBudget as budget } from '../turn-budget.js';

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
    private readonly ws: WebSocket,
    private readonly handle: (data: Buffer, isBinary: boolean) => Promise<void>,
    private readonly stopped: () => boolean,
  ) {
    ws.on('message', (data, isBinary) => this.push(data as Buffer, isBinary));
  }

  private push(data: Buffer, isBinary: boolean): void {
    if (this.stopped()) return;
    this.queue.push({ data, isBinary });
    if (this.queue.length >= PAUSE_AT && !this.ws.isPaused) this.ws.pause();
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0 && !this.stopped()) {
      // ws hands over every frame of what the socket read at once, whatever pause() says: the
      // shared budget keeps one burst (or many) from holding the event loop.
      await budget.turn();
      if (this.stopped()) break;
      const { data, isBinary } = this.queue.shift()!;
      if (this.queue.length <= RESUME_AT && this.ws.isPaused) this.ws.resume();
      await this.handle(data, isBinary);
    }
    this.queue.length = 0;
    this.running = false;
  }
}
