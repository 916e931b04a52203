import { formatCursor } from '../protocol/cursor.js';
import type { ErrorBody } from '../protocol/errors.js';
import type { Entry, MessageEntry, SeedMessage } from '../protocol/types.js';
import { entryJson, type Batch } from './batch.js';
import { sseEvent } from './sse-writer.js';
import { frameText } from './ws-frame.js';

/** An error frame or event that ends nothing: the body of the catalog plus what it answers. */
export interface ErrorNotice extends Omit<ErrorBody, 'error'> {
  id?: string;
  room?: string;
}

/**
 * One wire format: how entries, notices and errors look to one kind of client. A session writes
 * what its codec makes to its sink. `entries` is called once per batch and format (Batch.encoded
 * memoizes it) whatever the number of recipients.
 */
export interface Codec {
  /** The key of this format's encodings in a Batch. */
  readonly format: string;
  /** The batch as bytes (an empty buffer when this format shows none of its entries). */
  entries(batch: Batch): Buffer;
  /**
   * A typing notice (`{type:'typing', ...}` JSON), or undefined when this format has none. As
   * for entries, a Buffer is bytes for the sink as they are (WebSocket: frames built once for
   * every recipient, see Notice).
   */
  typing(json: string): string | Buffer | undefined;
  /** A presence notice (`{type:'presence', ...}` JSON), or undefined when this format has none. */
  presence(json: string): string | Buffer | undefined;
  /** A read receipt (`{type:'receipt', ...}` JSON), or undefined when this format has none. */
  receipt(json: string): string | Buffer | undefined;
  error(e: ErrorNotice): string;
}

/** Native WebSocket: one text frame per entry, all frames in one buffer (one write per socket). */
export function nativeWsFrames(batch: Batch): Buffer {
  const frames = batch.entries.map((e) => frameText(entryJson(e)));
  return frames.length === 1 ? frames[0]! : Buffer.concat(frames);
}

/** Native SSE: `id: <cursor>`, `event: <type>`, `data: <entry JSON>` per entry. */
export function nativeSse(batch: Batch): Buffer {
  let out = '';
  for (const e of batch.entries) out += sseEvent({ id: formatCursor({ epoch: batch.epoch, seq: e.seq }), event: e.type, data: entryJson(e) });
  return Buffer.from(out, 'utf8');
}

/**
 * True when the lecture's views show this entry: chat messages with a text. Joins and leaves
 * are not chat; a data-only message has nothing its `{text, timestamp}` could show; amendments
 * (edit, delete, reaction) never reach the lecture's clients, and a deleted message is left out.
 */
export function seedShows(e: Entry): e is MessageEntry {
  return e.type === 'message' && e.text !== '' && e.deleted !== true;
}

/** The lecture's message shape (its text only: data and event are not part of it). */
export function seedMessage(e: MessageEntry): SeedMessage {
  return { text: e.text, timestamp: e.ts };
}

const seedJsonCache = new WeakMap<MessageEntry, string>();

/** The lecture's JSON of a message, made once per entry whatever the number of clients it goes to. */
export function seedJson(e: MessageEntry): string {
  let json = seedJsonCache.get(e);
  if (json === undefined) seedJsonCache.set(e, (json = JSON.stringify(seedMessage(e))));
  return json;
}

/** Seed WebSocket (`/`): chat messages with a text only, as `{text, timestamp}`. Empty buffer when the batch holds none. */
export function seedWsFrames(batch: Batch): Buffer {
  const frames = batch.entries.filter(seedShows).map((e) => frameText(seedJson(e)));
  return Buffer.concat(frames);
}

/** Seed SSE (`/subscribe`): chat messages with a text only, default event type, `id:` = cursor. */
export function seedSse(batch: Batch): Buffer {
  let out = '';
  for (const e of batch.entries) {
    if (seedShows(e)) out += sseEvent({ id: formatCursor({ epoch: batch.epoch, seq: e.seq }), data: seedJson(e) });
  }
  return Buffer.from(out, 'utf8');
}

export const NATIVE_WS: Codec = {
  format: 'ws',
  entries: nativeWsFrames,
  // Framed once per notice: a room's presence notice goes to up to 100 members.
  typing: frameText,
  presence: frameText,
  receipt: frameText,
  error: (e) => JSON.stringify({ type: 'error', ...e }),
};

export const NATIVE_SSE: Codec = {
  format: 'sse',
  entries: nativeSse,
  typing: (json) => sseEvent({ event: 'typing', data: json }),
  presence: (json) => sseEvent({ event: 'presence', data: json }),
  receipt: (json) => sseEvent({ event: 'receipt', data: json }),
  error: (e) => sseEvent({ event: 'error', data: JSON.stringify(e) }),
};

/** The lecture's WebSocket page shows every frame's `text`: an error says so there, with its code beside. */
export const SEED_WS: Codec = {
  format: 'seed-ws',
  entries: seedWsFrames,
  typing: () => undefined,
  presence: () => undefined,
  receipt: () => undefined,
  error: (e) => JSON.stringify({ text: `error: ${e.message}`, timestamp: Date.now(), code: e.code, error: e.message }),
};

export const SEED_SSE: Codec = {
  format: 'seed-sse',
  entries: seedSse,
  typing: () => undefined,
  presence: () => undefined,
  receipt: () => undefined,
  error: (e) => sseEvent({ event: 'error', data: JSON.stringify(e) }),
};
