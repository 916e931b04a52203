import type { Entry } from '../../protocol/types.js';
import type { RoomState } from './message-store.js';

/** What the cache knows of one room: its state, and every entry after `tailFrom`, in seq order. */
export interface CachedRoom {
  state: RoomState;
  /** The tail holds every entry with seq in (tailFrom, state.lastSeq], and only those. */
  tailFrom: number;
  tail: Entry[];
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
 * rooms' states as read from the file, and entries after the commit that stored them. It knows
 * nothing of other processes: the store clears it whenever `PRAGMA data_version` says another
 * connection committed, and tells it of each of its own writes.
 */
export class RoomTailCache {
  private readonly rooms = new Map<string, CachedRoom>();

  /**
   * @param maxRooms rooms kept; the one cached longest ago goes first.
   * @param maxEntries entries kept per room, the newest.
   */
  constructor(
    private readonly maxRooms: number,
    private readonly maxEntries: number,
  ) {}

  get(room: string): CachedRoom | undefined {
    return this.rooms.get(room);
  }

  /** The room as read from the file (or written in a transaction that committed): no tail yet. */
  setState(state: RoomState): CachedRoom {
    const cached: CachedRoom = { state: { ...state }, tailFrom: state.lastSeq, tail: [] };
    this.rooms.delete(state.name);
    if (this.rooms.size >= this.maxRooms) this.rooms.delete(this.rooms.keys().next().value!);
    this.rooms.set(state.name, cached);
    return cached;
  }

  /**
   * Entries this process committed, contiguous and ascending; `state` is the room's state after
   * that commit, read inside its write transaction.
   */
  appended(state: RoomState, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    let cached = this.rooms.get(state.name);
    const firstSeq = entries[0]!.seq;
    if (!cached || cached.state.epoch !== state.epoch || cached.state.lastSeq !== firstSeq - 1) {
      cached = this.setState({ ...state, lastSeq: firstSeq - 1 });
    }
    cached.tail.push(...entries);
    cached.state.lastSeq = state.lastSeq;
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
