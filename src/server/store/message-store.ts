import type { Entry, EntryDraft } from '../../protocol/types.js';

/** What a store knows of one room's log. */
export interface RoomState {
  name: string;
  /**
   * Identifies this history. A new epoch means the log was reset (store wiped, room deleted and
   * made again): positions of the old epoch mean nothing in the new one.
   */
  epoch: string;
  /** Seq of the newest entry; 0 when the log is empty. Never decreases within an epoch. */
  lastSeq: number;
  /** Seq of the oldest retained entry; lastSeq + 1 when nothing is retained. */
  firstSeq: number;
}

/** The result of an append. */
export interface AppendResult {
  entry: Entry;
  epoch: string;
  /** True when the draft's clientId was already stored: `entry` is the original, nothing was added. */
  duplicate: boolean;
}

/** Retention bounds. A store keeps at most `maxEntries` per room and nothing older than `maxAgeMs`. */
export interface Retention {
  maxEntries: number;
  maxAgeMs: number;
}

/**
 * Durable, per-room, append-only logs. The contract every implementation keeps (and that
 * test/contract/message-store.contract.ts checks against each of them):
 *
 * - `append` is atomic per room: the idempotency check, the seq assignment (lastSeq + 1, no gap,
 *   never reused within an epoch, even after a restart) and the write happen as one step, even
 *   when several processes append to the same room at once. Its promise resolves only once the
 *   entry is as durable as the store can make it; then, and only then, may it be acknowledged.
 * - A `clientId` stored in a room makes a later append with the same clientId in that room
 *   return the original entry with `duplicate: true`, for as long as that entry is retained.
 * - Reads return entries in ascending seq order and never an entry that was not acknowledged.
 * - Retention (`trim`) removes only the oldest entries; `firstSeq` moves up, `lastSeq` stays.
 * - Errors: ROOM_NOT_FOUND (SwitchboardError) for a room that does not exist;
 *   STORE_UNAVAILABLE when the backend cannot be reached: nothing was stored then.
 */
export interface MessageStore {
  /** A short name for logs and metrics: 'memory', 'sqlite', 'redis'. */
  readonly kind: string;
  /** Opens connections and applies schema migrations. Called once before any other method. */
  init(): Promise<void>;
  /** The room's state, or undefined when it does not exist. */
  getRoom(room: string): Promise<RoomState | undefined>;
  /** Creates the room when missing (a new epoch); returns its state and whether it was created. */
  createRoom(room: string): Promise<{ state: RoomState; created: boolean }>;
  /** Every room, by name. */
  listRooms(): Promise<RoomState[]>;
  /** Appends one entry (see the contract above). */
  append(draft: EntryDraft): Promise<AppendResult>;
  /** Entries with seq > after, ascending, at most `limit`. */
  readAfter(room: string, after: number, limit: number): Promise<Entry[]>;
  /** The newest entries with seq < before (or the newest of all when before is undefined), ascending, at most `limit`. */
  readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]>;
  /** Applies retention to every room; resolves with how many entries were removed. Must not block the event loop for long. */
  trim(retention: Retention, now: number): Promise<number>;
  /** True when the backend answers. */
  ping(): Promise<boolean>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** A new epoch: random, short, URL- and cursor-safe. */
export function newEpoch(): string {
  return Math.random().toString(36).slice(2, 8) + Date.now().toString(36).slice(-4);
}
