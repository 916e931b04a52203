import type { Entry } from '../../protocol/types.js';
import type { RoomState } from './message-store.js';

/** What the cache knows of one room: its state, and every entry after `tailFrom`, in seq order. */
export interface CachedRoom {
  state: RoomState;
  /** The tail holds every entry with seq in (tailFrom, state.lastSeq], and only those. */
  tailFrom: number;
  tail: Entry[];
  /**
   * The file's `PRAGMA data_version` when the room was last known to be as the file holds it
   * (read before what it was read from); -1: not known, to be read again before use.
   */
  version: number;
  /** The room's count of entry rows changed in place when it was read (`rooms.rewrites`); -1: not known. */
  rewrites: number;
}

/** The cached entries with seq > after, at most `limit`; `after` must be tailFrom or later. */
export function tailAfter(cached: CachedRoom, after: number, limit: number): Entry[] {
  // The tail holds every entry after tailFrom, contiguous: entry seq s sits at s - tailFrom - 1.
  const start = after - cached.tailFrom;
  return limit > 0 ? cached.tail.slice(start, start + limit) : [];
}

/**
 * The state and newest entries of recently used rooms, kept by {@link SqliteStore} so that a
 * poll or a gap read at the head of a room costs no query. It holds only what was committed:
 * rooms' states as read from the file, and entries after the commit that stored them. Of other
 * processes it knows what the store reads: a room read while `PRAGMA data_version` says another
 * connection committed since the room's `version` is caught up (`caughtUp`) before it is used;
 * the store tells it of each of its own writes.
 */
export class RoomTailCache {
  private readonly rooms = new Map<string, CachedRoom>();

  /**
   * @param maxRooms rooms kept; the one cached longest ago goes first.
   * @param maxEntries entries kept per room, the newest.
   */
  constructor(
    private readonly maxRooms: number,
    readonly maxEntries: number,
  ) {}

  get(room: string): CachedRoom | undefined {
    return this.rooms.get(room);
  }

  /**
   * The room as read from the file at data version `version`, its rows rewritten `rewrites` times
   * (or written in a transaction that committed: -1, not known): no tail yet.
   */
  setState(state: RoomState, version = -1, rewrites = -1): CachedRoom {
    const cached: CachedRoom = { state: { ...state }, tailFrom: state.lastSeq, tail: [], version, rewrites };
    this.rooms.delete(state.name);
    if (this.rooms.size >= this.maxRooms) this.rooms.delete(this.rooms.keys().next().value!);
    this.rooms.set(state.name, cached);
    return cached;
  }

  /**
   * Entries this process committed, contiguous and ascending; `state` is the room's state after
   * that commit and `rewrites` its count of entry rows changed in place, read inside its write
   * transaction (-1: not known).
   */
  appended(state: RoomState, entries: readonly Entry[], rewrites = -1): void {
    if (entries.length === 0) return;
    let cached = this.rooms.get(state.name);
    const firstSeq = entries[0]!.seq;
    if (!cached || cached.state.epoch !== state.epoch || cached.state.lastSeq !== firstSeq - 1 || cached.rewrites !== rewrites) {
      cached = this.setState({ ...state, lastSeq: firstSeq - 1 }, -1, rewrites);
    }
    cached.tail.push(...entries);
    cached.state.lastSeq = state.lastSeq;
    this.cap(cached);
  }

  /**
   * Brings a room cached before other connections committed up to `version`: `state` is the
   * room's state, `rewrites` its count of entry rows changed in place, and `entries` every entry
   * after the cached `lastSeq` (none read when they could not extend the tail), all read in one
   * transaction after `version` was. Rows already cached change only in place (an amendment folding into its
   * target, an operator's UPDATE: either moves `rewrites`) or with the room's state (a reset's epoch, a
   * trim's firstSeq; a deleted room has none): so the tail stands when the epoch and `rewrites`
   * are the same and the new entries follow on, no more than the tail holds; trimmed entries
   * leave it. Else the room starts again from `state`. (Rows deleted by hand in the middle of a
   * history, which breaks the store's gapless seqs, are not seen.)
   */
  caughtUp(cached: CachedRoom, state: RoomState, rewrites: number, entries: readonly Entry[], version: number): CachedRoom {
    const from = cached.state.lastSeq;
    const follows =
      rewrites === cached.rewrites &&
      state.epoch === cached.state.epoch &&
      entries.length === state.lastSeq - from &&
      entries.length <= this.maxEntries &&
      (entries.length === 0 || entries[0]!.seq === from + 1);
    if (!follows) return this.setState(state, version, rewrites);
    cached.tail.push(...entries);
    cached.state = { ...state };
    const trimmed = Math.min(cached.tail.length, state.firstSeq - 1 - cached.tailFrom);
    if (trimmed > 0) {
      cached.tail.splice(0, trimmed);
      cached.tailFrom += trimmed;
    }
    this.cap(cached);
    cached.version = version;
    return cached;
  }

  private cap(cached: CachedRoom): void {
    const excess = cached.tail.length - this.maxEntries;
    if (excess > 0) {
      cached.tail.splice(0, excess);
      cached.tailFrom += excess;
    }
  }

  /** Forgets a room (it was created, deleted, reset or trimmed). */
  delete(room: string): void {
    this.rooms.delete(room);
  }

  /** Forgets everything (another process committed). */
  clear(): void {
    this.rooms.clear();
  }
}
