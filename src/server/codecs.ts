import { formatCursor } from '../protocol/cursor.js';
import type { Entry, SeedMessage } from '../protocol/types.js';
import { entryJson, type Batch } from './batch.js';
import { sseEvent } from './sse-writer.js';
import { frameText } from './ws-frame.js';

/**
 * The wire encodings of a batch, one function per format. Each is called once per batch
 * (Batch.encoded memoizes it) whatever the number of recipients.
 */

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

/** The lecture's message shape. */
export function seedMessage(e: Entry): SeedMessage {
  return { text: e.text ?? '', timestamp: e.ts };
}

export function seedJson(e: Entry): string {
  return JSON.stringify(seedMessage(e));
}

/** Seed WebSocket (`/`): chat messages only, as `{text, timestamp}`. Empty buffer when the batch holds none. */
export function seedWsFrames(batch: Batch): Buffer {
  const frames = batch.entries.filter((e) => e.type === 'message').map((e) => frameText(seedJson(e)));
  return Buffer.concat(frames);
}

/** Seed SSE (`/subscribe`): chat messages only, default event type, `id:` = cursor. */
export function seedSse(batch: Batch): Buffer {
  let out = '';
  for (const e of batch.entries) {
    if (e.type === 'message') out += sseEvent({ id: formatCursor({ epoch: batch.epoch, seq: e.seq }), data: seedJson(e) });
  }
  return Buffer.from(out, 'utf8');
}
