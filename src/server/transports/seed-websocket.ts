import { isUtf8 } from 'node:buffer';
import { DEFAULT_ROOM } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { ServerContext } from '../context.js';
import { toSwitchboardError } from '../http-util.js';
import type { Session } from '../session/session.js';
import { FrameQueue, type FrameHandler } from './frame-queue.js';
import type { ServerWebSocket } from './server-websocket.js';

/** The text of the first frame a lecture client gets. */
export const WELCOME_TEXT = 'Welcome to Switchboard: connected to the server.';

/** Refused messages in a row after which a flooding client is disconnected (close 4008). */
const FLOOD_DISCONNECT_AFTER = 100;

/** How long a refusal waits at most for the relay of the sender's message before it (a broker that lost it). */
const RELAY_WAIT_MS = 2000;

/**
 * The lecture's WebSocket chat at `/`, a dialect over a session: a welcome message on connect,
 * then every text message a client sends goes into the default room's log and comes back, as
 * `{text, timestamp}`, to every client of that room (the sender too), whatever transport they
 * use. A message that is refused comes back as `{text: "error: ...", code, error}`: the
 * lecture's page shows it like any message, so the sender is never left unaware.
 *
 * What a client sees comes in the order of its frames: a refusal waits until the relay of the
 * client's message before it was written to it (relays go out a turn after the store took them,
 * through the room's channel; a refusal is written at once).
 */
export class SeedWebSocketConnection implements FrameHandler {
  private rejected = 0;
  /** The last message this client published: its history and seq. */
  private published: { epoch: string; seq: number } | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly ws: ServerWebSocket,
    private readonly session: Session,
  ) {
    new FrameQueue(ws, this);
  }

  get stopped(): boolean {
    return this.session.closed;
  }

  async start(): Promise<void> {
    this.ws.send(JSON.stringify({ text: WELCOME_TEXT, timestamp: Date.now() }));
    await this.session.subscribe(DEFAULT_ROOM, { create: true });
  }

  async handleFrame(data: Buffer, isBinary: boolean): Promise<void> {
    try {
      // Binary frames are taken as text only when they are valid UTF-8 (text frames are checked by ws).
      if (isBinary && !isUtf8(data)) throw new SwitchboardError('INVALID_UTF8');
      const text = data.toString('utf8');
      if (text.length === 0) throw new SwitchboardError('TEXT_REQUIRED');
      const ack = await this.session.publish(DEFAULT_ROOM, { text });
      this.published = { epoch: ack.epoch, seq: ack.seq };
      this.rejected = 0;
    } catch (err) {
      const e = toSwitchboardError(err);
      if (e.code === 'INTERNAL') this.ctx.badInput.error('seed-ws', { err }, 'lecture websocket publish failed');
      this.ctx.metrics.errors.inc({ code: e.code });
      // After the relay of the message before: the answers keep the order of the frames.
      if (this.published) await this.session.delivered(DEFAULT_ROOM, this.published.epoch, this.published.seq, RELAY_WAIT_MS);
      if (e.code === 'RATE_LIMITED' && ++this.rejected > FLOOD_DISCONNECT_AFTER) {
        this.session.close(e);
        return;
      }
      this.session.notify(e);
    }
  }
}
