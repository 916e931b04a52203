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

/** Parses a cursor; an empty or missing cursor gives undefined. Throws INVALID_CURSOR. */
export function parseCursor(text: string | null | undefined): { epoch?: string; seq: number } | undefined {
  if (text === undefined || text === null || text === '') return undefined;
  const match = /^(?:([A-Za-z0-9_-]{1,32}):)?(\d{1,15})$/.exec(text);
  if (!match) throw new SwitchboardError('INVALID_CURSOR', JSON.stringify(text.slice(0, 80)));
  const seq = Number(match[2]);
  return match[1] === undefined ? { seq } : { epoch: match[1], seq };
}
