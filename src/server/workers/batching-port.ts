import type { BrokerMessage } from '../broker/broker.js';
import type { IpcPort } from './ipc-protocol.js';

/** What a batching port carries: our messages, a `batch` among them (ipc-protocol.ts). */
interface Message {
  sb: 1;
  t: string;
}

/** The two kinds whose broker messages are merged when they follow each other. */
const MERGED = new Set(['publish', 'deliver']);

function merges(m: Message): m is Message & { messages: BrokerMessage[] } {
  return MERGED.has(m.t);
}

/** The one `batch` message of the protocol, holding `messages` (ToPrimary and ToWorker alike). */
export function batchOf<T>(messages: T[]): { sb: 1; t: 'batch'; messages: T[] } {
  return { sb: 1, t: 'batch', messages };
}

/**
 * An IPC port that sends what it is given in one turn of the event loop as one message, in
 * order: a `batch` of them (or the message alone, when it is the only one), at the end of the
 * turn (setImmediate). Each IPC message is one serialization, one write system call and one
 * wake-up of the other process, which cost more than its content: a worker connecting clients
 * makes several presence calls a turn, and the primary answers them, and relays broker messages,
 * in as many. Consecutive `publish` (or `deliver`) messages become one, their broker messages
 * concatenated, so a turn's publishes cross as one list as before. The receiving end reads a
 * batch with `eachOurs`. Sent after `flush` or at the end of the turn; nothing is kept once the
 * other end is gone (the wrapped port drops it, see IpcPort).
 */
export class BatchingPort<Out extends Message> implements IpcPort<Out> {
  private queue: Out[] = [];

  constructor(
    private readonly port: IpcPort<Out>,
    /** Wraps several messages into the one `batch` message of the protocol: batchOf. */
    private readonly batch: (messages: Out[]) => Out,
  ) {}

  send(message: Out): void {
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && merges(last) && merges(message) && last.t === message.t) {
      for (const m of message.messages) last.messages.push(m); // not push(...): a turn may publish more than a call takes arguments
      return;
    }
    // Queued as a copy with a list of its own, which the next publish (or deliver) may extend.
    const queued = merges(message) ? { ...message, messages: [...message.messages] } : message;
    if (this.queue.push(queued) === 1) setImmediate(this.flush);
  }

  /** Sends what is queued now (before a close). */
  readonly flush = (): void => {
    const queue = this.queue;
    if (queue.length === 0) return;
    this.queue = [];
    this.port.send(queue.length === 1 ? queue[0]! : this.batch(queue));
  };

  onMessage(handler: (message: unknown) => void): () => void {
    return this.port.onMessage(handler);
  }

  connected(): boolean {
    return this.port.connected();
  }

  /** The wrapped port's backlog: what is queued here goes as one message at the end of the turn. */
  backlog(): number {
    return this.port.backlog?.() ?? 0;
  }
}
