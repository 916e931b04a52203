import type WebSocket from 'ws';
import { DEFAULT_ROOM } from '../../protocol/constants.js';
import type { TransportName } from '../../protocol/types.js';
import type { Batch } from '../batch.js';
import { seedWsFrames } from '../codecs.js';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';
import { randomId } from '../ids.js';
import { RateLimiter } from '../rate-limiter.js';
import type { Subscriber } from '../subscriber.js';
import { writeFrames } from '../ws-frame.js';

/** The text of the first frame a lecture client gets. */
export const WELCOME_TEXT = 'Welcome to Switchboard: connected to the server.';

/**
 * The lecture's WebSocket chat at `/`: a welcome message on connect, then every text message a
 * client sends goes into the default room's log and comes back, as `{text, timestamp}`, to every
 * client of that room (the sender too), whatever transport they use.
 */
export class SeedWebSocketConnection implements Subscriber, Closable {
  readonly transport: TransportName = 'websocket';
  position = 0;
  private readonly id = randomId();
  private readonly limiter: RateLimiter;
  private rejected = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly ws: WebSocket,
  ) {
    this.limiter = new RateLimiter(ctx.config.rateLimitPerSecond, ctx.config.rateLimitBurst);
    ws.on('message', (data, isBinary) => void this.onMessage(data as Buffer, isBinary));
  }

  async start(): Promise<void> {
    this.ws.send(JSON.stringify({ text: WELCOME_TEXT, timestamp: Date.now() }));
    const { hub } = this.ctx;
    const state = await hub.room(DEFAULT_ROOM, true);
    hub.presence.attach(DEFAULT_ROOM, { id: this.id, member: this.id, name: `guest-${this.id.slice(0, 4)}`, transport: 'websocket' });
    await hub.subscribe(DEFAULT_ROOM, this, hub.resolveStart(state, undefined));
  }

  deliver(batch: Batch): void {
    const frames = batch.encoded('seed-ws', seedWsFrames);
    if (frames.length === 0) return;
    if (this.ws.bufferedAmount > this.ctx.config.maxBufferedBytes) {
      this.ws.close(4000, 'SLOW_CONSUMER');
      return;
    }
    writeFrames(this.ws, frames);
  }

  historyReset(): void {
    // The lecture's clients have no position: follow the new history from its end.
    const { hub } = this.ctx;
    void hub
      .room(DEFAULT_ROOM, true)
      .then((state) => hub.subscribe(DEFAULT_ROOM, this, hub.resolveStart(state, undefined)))
      .catch(() => this.ws.close(1011, 'INTERNAL'));
  }

  onClose(): void {
    this.ctx.hub.unsubscribe(DEFAULT_ROOM, this);
    this.ctx.hub.presence.detach(DEFAULT_ROOM, this.id, this.id);
  }

  shutdown(): void {
    this.ws.close(1001, 'server shutting down');
  }

  destroy(): void {
    this.ws.terminate();
  }

  private async onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    const text = data.toString('utf8');
    // Binary frames are taken as text only when they are valid UTF-8 (text frames are checked by ws).
    if ((isBinary && !Buffer.from(text, 'utf8').equals(data)) || text.length === 0) return;
    if (!this.limiter.take()) {
      if (++this.rejected > 100) this.ws.close(4008, 'RATE_LIMITED');
      return;
    }
    this.rejected = 0;
    try {
      await this.ctx.hub.publish({
        type: 'message',
        room: DEFAULT_ROOM,
        from: { id: this.id, name: `guest-${this.id.slice(0, 4)}`, member: this.id, transport: 'websocket' },
        text,
      });
    } catch (err) {
      this.ctx.logger.warn({ err }, 'seed websocket publish failed');
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify({ text: 'error: message not stored', timestamp: Date.now() }));
    }
  }
}
