import { SwitchboardError } from '../../protocol/errors.js';
import { CLIENT_FRAME_TYPES, clientFrame } from '../../protocol/schemas.js';
import type { ClientFrame, ServerFrame } from '../../protocol/types.js';
import type { ServerContext } from '../context.js';
import { toSwitchboardError } from '../http-util.js';
import { presenceFrameJson } from '../presence-json.js';
import type { Session } from '../session/session.js';
import { FrameQueue, type FrameHandler } from './frame-queue.js';
import type { ServerWebSocket } from './server-websocket.js';

/** Rejected publishes in a row after which a flooding client is disconnected (close 4008). */
const FLOOD_DISCONNECT_AFTER = 100;
/** Publishes of one connection in flight at once (pipelined: started in order, answered in order). */
const MAX_PUBLISHES_IN_FLIGHT = 64;

/** A publish's answer (its ack or its error), once known. */
interface Answer {
  write: (() => void) | undefined;
}

/**
 * The native WebSocket protocol (`/api/ws`): JSON frames to subscribe, unsubscribe, publish,
 * signal typing, refresh the token and ping; entries, acks and errors back (docs/protocol.md).
 * Frames are parsed here and run in order (FrameQueue) through the session. Consecutive
 * publishes are pipelined: each is started (its store append issued) in the order it came, up to
 * MAX_PUBLISHES_IN_FLIGHT at once, without waiting for the ack of the one before, and answered
 * in that order (a refusal found early waits for the acks before it); any other frame, and the
 * error of a frame that could not be read, waits until every publish before it was answered.
 * Stores take appends in call order, so a client's messages keep their order (not with an
 * `onPublish` hook, which may take its time: publishes then run one by one).
 */
export class WebSocketConnection implements FrameHandler {
  private rejected = 0;
  /** Publishes not yet answered; made at the first publish (most connections of a big room never publish). */
  private inflight: Set<Promise<void>> | undefined;
  /** Answers of the publishes in flight, in the order they came: written from the front as they are ready. */
  private readonly answers: Answer[] = [];
  /** Set when the publish budget was refused FLOOD_DISCONNECT_AFTER times in a row. */
  private flood: SwitchboardError | undefined;

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

  start(): void {
    this.send({
      type: 'welcome',
      connectionId: this.session.id,
      member: this.session.principal.member,
      name: this.session.principal.name,
      heartbeatMs: this.ctx.config.heartbeatMs,
      maxMessageBytes: this.ctx.config.maxMessageBytes,
    });
  }

  async handleFrame(data: Buffer, isBinary: boolean): Promise<void> {
    let id: string | undefined;
    try {
      if (isBinary) throw new SwitchboardError('BAD_REQUEST', 'send JSON in text frames');
      let raw: unknown;
      try {
        const text = data.toString('utf8');
        // A byte order mark before the JSON is ignored, as in HTTP bodies (RFC 8259, 8.1).
        raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
      } catch {
        throw new SwitchboardError('BAD_JSON');
      }
      if (raw !== null && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string') id = (raw as { id: string }).id.slice(0, 64);
      const type = (raw as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !(CLIENT_FRAME_TYPES as readonly string[]).includes(type)) {
        throw new SwitchboardError('UNKNOWN_FRAME', typeof type === 'string' ? JSON.stringify(type.slice(0, 40)) : `type is ${raw === null ? 'null' : typeof type}`);
      }
      const parsed = clientFrame.safeParse(raw);
      if (!parsed.success) {
        const { issues } = parsed.error;
        // A room name that is a string but not a room's: refused as the HTTP routes refuse it.
        const room = (raw as { room?: unknown }).room;
        if (typeof room === 'string' && issues.every((i) => i.path.length === 1 && i.path[0] === 'room')) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(room.slice(0, 80)));
        throw new SwitchboardError('BAD_REQUEST', issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ').slice(0, 300));
      }
      const frame = parsed.data as ClientFrame;
      if (frame.type === 'publish' && !this.ctx.hooks.onPublish) {
        const inflight = (this.inflight ??= new Set());
        if (inflight.size >= MAX_PUBLISHES_IN_FLIGHT) await Promise.race(inflight);
        const answer: Answer = { write: undefined };
        this.answers.push(answer);
        const answered: Promise<void> = this.publish(frame)
          .then(
            (ack) => this.ready(answer, () => ack && this.send(ack)),
            (err: unknown) => this.ready(answer, () => this.report(err, id)),
          )
          .finally(() => {
            inflight.delete(answered);
            this.endFlood();
          });
        inflight.add(answered);
        return;
      }
      // Anything else comes after the answers to every publish before it.
      await this.publishesAnswered();
      await this.onFrame(frame);
      this.endFlood();
    } catch (err) {
      // A frame refused before it ran (not JSON, no such type, the schema's): after them too.
      await this.publishesAnswered();
      this.report(err, id);
    }
  }

  /** `answer` is ready: writes it, and those after it that are ready, once those before it are written. */
  private ready(answer: Answer, write: () => void): void {
    answer.write = write;
    while (this.answers.length > 0 && this.answers[0]!.write !== undefined) this.answers.shift()!.write!();
  }

  private async publishesAnswered(): Promise<void> {
    if (this.inflight && this.inflight.size > 0) await Promise.all(this.inflight);
  }

  /** A flooding client is disconnected (4008) once every publish before was answered: only unanswered ones are lost, and it knows which. */
  private endFlood(): void {
    if (this.flood && !this.inflight?.size) this.session.close(this.flood);
  }

  /** An error frame for a refused frame (one warn line per kind, rate-limited). */
  private report(err: unknown, id: string | undefined): void {
    const e = toSwitchboardError(err);
    if (e.code === 'INTERNAL') this.ctx.badInput.error('ws-internal', { err }, 'websocket frame failed');
    else this.ctx.badInput.warn(`ws:${e.code}`, { code: e.code, member: this.session.principal.member, address: this.session.principal.address }, e.message.slice(0, 200));
    this.ctx.metrics.errors.inc({ code: e.code });
    const room = (err as { room?: string }).room;
    this.session.notify(e, room, id);
  }

  private async onFrame(frame: ClientFrame): Promise<void> {
    const { session } = this;
    const id = 'id' in frame && frame.id !== undefined ? { id: frame.id } : {};
    try {
      switch (frame.type) {
        case 'ping':
          this.send({ type: 'pong', ...id });
          return;
        case 'subscribe':
          await session.subscribe(frame.room, { after: frame.after, create: frame.create === true }, (info) => this.session.write(presenceFrameJson({ type: 'subscribed', ...id, ...info } satisfies ServerFrame)));
          return;
        case 'unsubscribe':
          session.unsubscribe(frame.room);
          this.send({ type: 'unsubscribed', ...id, room: frame.room });
          return;
        case 'publish': {
          const ack = await this.publish(frame);
          if (ack) this.send(ack);
          return;
        }
        case 'edit':
          this.send({ type: 'ack', ...id, ...(await session.edit(frame.room, frame.seq, frame.text, frame.clientId)) });
          return;
        case 'delete':
          this.send({ type: 'ack', ...id, ...(await session.deleteMessage(frame.room, frame.seq, frame.clientId)) });
          return;
        case 'react':
          this.send({ type: 'ack', ...id, ...(await session.react(frame.room, frame.seq, frame.emoji, frame.on, frame.clientId)) });
          return;
        case 'mark-read':
          this.send({ type: 'marked', ...id, room: frame.room, seq: await session.markRead(frame.room, frame.seq) });
          return;
        case 'typing':
          await session.typing(frame.room);
          return;
        case 'refresh': {
          const { expiresAt } = await session.refresh(frame.token);
          this.send({ type: 'refreshed', ...id, ...(expiresAt !== undefined ? { expiresAt } : {}) });
          return;
        }
      }
    } catch (err) {
      if ('room' in frame && err instanceof SwitchboardError) Object.assign(err, { room: frame.room });
      throw err;
    }
  }

  /** Publishes; resolves with the ack frame to send, or nothing when the client is to be cut for flooding. */
  private async publish(frame: Extract<ClientFrame, { type: 'publish' }>): Promise<ServerFrame | undefined> {
    let ack;
    try {
      ack = await this.session.publish(frame.room, { text: frame.text, data: frame.data, event: frame.event, clientId: frame.clientId, replyTo: frame.replyTo });
    } catch (err) {
      if (err instanceof SwitchboardError && err.code === 'RATE_LIMITED' && ++this.rejected > FLOOD_DISCONNECT_AFTER) {
        this.flood = err; // closed by endFlood once the publishes before this one are answered
        return undefined;
      }
      if (err instanceof SwitchboardError) Object.assign(err, { room: frame.room });
      throw err;
    }
    this.rejected = 0;
    return { type: 'ack', ...(frame.id !== undefined ? { id: frame.id } : {}), ...ack };
  }

  private send(frame: ServerFrame): void {
    this.session.write(JSON.stringify(frame));
  }
}
