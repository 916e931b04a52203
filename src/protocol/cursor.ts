import { SwitchboardError } from './errors.js';
import type { Position } from './types.js';

/**
 * A cursor is the text form of a Position: `<epoch>:<seq>`, for example `k2x9f1:42`.
 * It is what SSE sends as `id:`, what polling clients send as `after`, and what the SDK keeps
 * to resume. A bare `<seq>` is accepted too (no epoch check then).
 */
export function formatCursor(position: Position): string {
  return `${position.epoch}:${position.seq}`;
}

/**
 * Parses a cursor (`<epoch>:<seq>` or `<seq>`: an epoch of 1-32 of `A-Z a-z 0-9 _ -`, a seq of
 * 1-15 digits); an empty or missing cursor gives undefined. Throws INVALID_CURSOR, whose message
 * names `source` (where the cursor came from: `after`, `Last-Event-ID`...) before the cursor: a
 * client that sends more than one cursor is told which to fix. Read by hand, not by a regular
 * expression: every poll parses one, and a match allocates an array.
 */
export function parseCursor(text: string | null | undefined, source?: string): { epoch?: string; seq: number } | undefined {
  if (text === undefined || text === null || text === '') return undefined;
  const seq = cursorSeq(text);
  if (seq < 0) {
    const shown = JSON.stringify(text.slice(0, 80));
    throw new SwitchboardError('INVALID_CURSOR', source === undefined ? shown : `${source} ${shown}`);
  }
  const colon = text.indexOf(':');
  return colon < 0 ? { seq } : { epoch: text.slice(0, colon), seq };
}

/** True when `text` is a cursor with its epoch (`<epoch>:<seq>`), checked without a regular expression. */
export function isEpochCursor(text: string): boolean {
  return text.indexOf(':') > 0 && cursorSeq(text) >= 0;
}

/** The seq of a cursor, or -1 when `text` is not one. */
function cursorSeq(text: string): number {
  const colon = text.indexOf(':');
  const digits = colon + 1;
  let seq = 0;
  let ok = text.length - digits >= 1 && text.length - digits <= 15 && colon !== 0 && colon <= 32;
  for (let i = digits; ok && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) ok = false;
    else seq = seq * 10 + (c - 0x30);
  }
  for (let i = 0; ok && i < colon; i++) ok = isEpochChar(text.charCodeAt(i));
  return ok ? seq : -1;
}

/** `A-Z a-z 0-9 _ -` */
function isEpochChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d;
}
