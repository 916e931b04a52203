import type { PollResult } from '../protocol/types.js';

/** How long one answer is shared at most: its `typing` list is at most this old. */
const MAX_AGE_MS = 1000;
/** The limit of most polls (the routes' default). */
const DEFAULT_LIMIT = 100;
/** Positions remembered per room; past it nothing more is remembered until the head moves. */
const MAX_POSITIONS = 256;

/**
 * The poll answers of one room on this node, shared while the room's live head stays where it
 * is: every poll asking what follows the same cursor (with the same limit) gets the same
 * PollResult object, read from the store once and encoded once by the transport (a WeakMap on
 * the object). Polls come back in waves after each delivery, at a handful of positions, so a
 * room answers N pollers with a few reads and encodes.
 *
 * An answer stays right while the head has not moved: it holds what the store had after the
 * cursor when it was read, and anything stored since reaches the pollers with their next
 * request (its cursor is the answer's). It is forgotten when the head moves, the epoch changes,
 * a typing notice comes (`clear`), or after MAX_AGE_MS.
 */
export class PollAnswers {
  private epoch = '';
  private head = -1;
  private until = 0;
  /** Answers by cursor: those for the default limit, and by `<limit> <cursor>` those for others (no key string made for most polls). */
  private readonly answers = new Map<string, PollResult>();
  private readonly otherLimits = new Map<string, PollResult>();

  /** The answer shared for `after` and `limit` while the room is at `epoch`/`head`; undefined when none is. */
  get(epoch: string, head: number, after: string | undefined, limit: number, now = Date.now()): PollResult | undefined {
    this.follow(epoch, head, now);
    return limit === DEFAULT_LIMIT ? this.answers.get(after ?? '') : this.otherLimits.get(key(after, limit));
  }

  /** Shares `result` as the answer for `after` and `limit` at `epoch`/`head` (the head when it was read); returns it. */
  set(epoch: string, head: number, after: string | undefined, limit: number, result: PollResult, now = Date.now()): PollResult {
    this.follow(epoch, head, now);
    if (this.head === head && this.epoch === epoch && this.answers.size + this.otherLimits.size < MAX_POSITIONS) {
      if (limit === DEFAULT_LIMIT) this.answers.set(after ?? '', result);
      else this.otherLimits.set(key(after, limit), result);
    }
    return result;
  }

  /** Forgets every answer (their `typing` lists changed). */
  clear(): void {
    // A Map's clear makes a new table even when it is empty.
    if (this.answers.size > 0) this.answers.clear();
    if (this.otherLimits.size > 0) this.otherLimits.clear();
  }

  private follow(epoch: string, head: number, now: number): void {
    if (epoch === this.epoch && head === this.head && now < this.until) return;
    this.clear();
    this.epoch = epoch;
    this.head = head;
    this.until = now + MAX_AGE_MS;
  }
}

function key(after: string | undefined, limit: number): string {
  return `${limit} ${after ?? ''}`;
}
