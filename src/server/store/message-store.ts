import type { Entry, EntryDraft, MessageEntry, Sender } from '../../protocol/types.js';
import type { DisconnectOrder } from '../broker/broker.js';

/** What a store knows of one room's log. */
export interface RoomState {
  name: string;
  /**
   * Identifies this history. A new epoch means the log was reset (`resetRoom`, the room deleted
   * and made again, the store wiped): positions of the old epoch mean nothing in the new one.
   */
  epoch: string;
  /** Seq of the newest entry; 0 when the log is empty. Never decreases within an epoch. */
  lastSeq: number;
  /** Seq of the oldest retained entry; lastSeq + 1 when nothing is retained. */
  firstSeq: number;
}

/** Which page of rooms `listRooms` returns. */
export interface RoomPageRequest {
  /** Rooms named after this one (exclusive); from the first when absent. */
  after?: string;
  /** Most rooms returned, at least 1. */
  limit: number;
}

/** A page of rooms, by name. */
export interface RoomPage {
  rooms: RoomState[];
  /** Where the next page starts (give it as `after`); absent when this page is the last. */
  next?: string;
}

/** The result of an append. */
export interface AppendResult {
  entry: Entry;
  epoch: string;
  /** True when the draft's idempotency key was already stored: `entry` is the original, nothing was added. */
  duplicate: boolean;
}

/** What `search` looks for: the words of a query (see searchWords), newest matches first. */
export interface SearchRequest {
  /** Words, each normalized (lower case, no diacritics) and taken as a prefix; all must match. At least one. */
  words: string[];
  /** Only messages with a seq below this one. */
  before?: number;
  /** Most results, at least 1. */
  limit: number;
}

/** What `search` found. */
export interface SearchAnswer {
  /** Matching messages, newest first, folded. */
  results: MessageEntry[];
  /** True when older matches exist (beyond `limit`). */
  more: boolean;
  /** False when the store searched only part of the retained history. */
  complete: boolean;
  /** Characters of message text a scanning search looked at (memory, Redis); absent for an index (SQLite). */
  scanned?: number;
}

/**
 * Newest retained entries a scanning search (memory and Redis stores) looks at, at most
 * (`complete: false` when more are retained): one request's work is bounded whatever the
 * retention.
 */
export const SEARCH_SCAN_LIMIT = 5000;
/** Characters of message text a scanning search looks at, at most (a room of huge messages: fewer entries). */
export const SEARCH_TEXT_LIMIT = 8 * 1024 * 1024;

/**
 * Read positions a room keeps, at most: a new member's position past it forgets the one furthest
 * behind (the lowest seq). Members are whoever the clients are (an open server's guests name
 * themselves; a keyed server's HTTP guests are a new one per request): without a bound, one
 * client marking read under new names would grow a room's positions for as long as it lasts.
 */
export const MAX_READ_POSITIONS = 10_000;

/** A member's read position, as a store keeps it. */
export interface ReadPosition {
  member: string;
  name: string;
  seq: number;
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
 * - Idempotency: the key of an entry is (room, scope, clientId), where scope is the sender's
 *   `member`, or its connection `id` when it has none (see {@link clientScope}). A stored key
 *   makes a later append with the same key return the original entry with `duplicate: true`,
 *   for as long as that entry is retained. Keys are per sender so that nobody can take another
 *   sender's clientId: two senders may use one clientId in one room, and both are stored.
 * - Reads return entries in ascending seq order and never an entry that was not acknowledged,
 *   exactly as appended: a message's text, data (any JSON value, deep-equal) and event come back,
 *   optional keys absent when they were not given.
 * - Retention (`trim`) removes only the oldest entries; `firstSeq` moves up, `lastSeq` stays.
 * - `createRoom`, `deleteRoom` and `resetRoom` are each one atomic step, like `append`: a
 *   concurrent append or creation sees the room wholly before or wholly after it, on every
 *   process and node.
 * - Amendments (`edit`, `delete`, `reaction` drafts, with `target` = the seq of an earlier
 *   message): in the same atomic step as the append, the store checks the target (a retained
 *   `message` of the room, else MESSAGE_NOT_FOUND; a deleted one: MESSAGE_DELETED; a 21st
 *   distinct emoji: REACTION_LIMIT), stores the amendment entry (a reaction with its resolved
 *   `on`: a draft without `on` toggles the sender's reaction) and folds it into the target, so
 *   every later read returns the message folded (`edited`, `deleted`, `reactions`, `folded`).
 *   A delete ERASES from the store itself: the message's text, data, event and reply preview,
 *   the text of every `edit` of it, the preview text of every reply quoting it, its reactions.
 *   Idempotency covers amendments exactly like messages (same key space).
 * - Replies: a message draft with `replyTo` gets `reply` (the preview of the target as it is at
 *   that moment) set by the store in the same atomic step; MESSAGE_NOT_FOUND / MESSAGE_DELETED
 *   when the target is not a retained, undeleted message. A `reply` given in the draft is ignored.
 * - Read positions are not entries: one per (room, member), only moving forward, clamped to
 *   lastSeq; dropped with the room (deleteRoom, resetRoom).
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
  /**
   * Creates the room when missing (a new epoch, lastSeq 0, firstSeq 1); returns its state and
   * whether it was created. An existing room is returned as it is (`created: false`), whatever
   * `maxRooms` says. When the room is missing and the store already holds `maxRooms` rooms or
   * more, throws ROOM_LIMIT and creates nothing. Checking the count and creating the room are
   * one atomic step across all processes and nodes: N concurrent creations of distinct rooms on a
   * store below the cap leave exactly `maxRooms` rooms. Costs O(1) in the number of rooms.
   * Without `maxRooms` there is no cap.
   */
  createRoom(room: string, maxRooms?: number): Promise<{ state: RoomState; created: boolean }>;
  /** How many rooms the store holds. O(1): never lists them. */
  countRooms(): Promise<number>;
  /**
   * One page of rooms, in ascending name order (by UTF-16 code unit, which for room names is
   * byte order): those named after `page.after` (from the first when absent), at most
   * `page.limit`. `next` is set when more may follow: pass it as `after` for the next page. Costs
   * O(limit) reads (plus O(log rooms)), never a scan of every room.
   */
  listRooms(page: RoomPageRequest): Promise<RoomPage>;
  /**
   * Removes the room with every entry and idempotency key of it, in one atomic step; resolves
   * with true when the room existed, false (and no change) when it did not. The room no longer
   * counts towards `maxRooms`. Appends and reads that come after it throw ROOM_NOT_FOUND; a later
   * `createRoom` of the same name starts a new history (a new epoch, seqs from 1).
   */
  deleteRoom(room: string): Promise<boolean>;
  /**
   * Empties the room and starts a new history: every entry and idempotency key goes, and the
   * room gets a new epoch with lastSeq 0 and firstSeq 1. Resolves with that new state. Atomic
   * with respect to appends: each concurrent append lands either wholly before the reset (and is
   * wiped with the old epoch) or wholly after it (in the new epoch, from seq 1).
   * Throws ROOM_NOT_FOUND when the room does not exist.
   */
  resetRoom(room: string): Promise<RoomState>;
  /** Appends one entry (see the contract above). */
  append(draft: EntryDraft): Promise<AppendResult>;
  /** Entries with seq > after, ascending, at most `limit`. */
  readAfter(room: string, after: number, limit: number): Promise<Entry[]>;
  /**
   * Optional: what `readAfter` would answer now, when the store holds it in this process's memory
   * (no I/O, no promise); undefined when it does not, or when `after` is before the room's
   * retained history (`after < firstSeq - 1`) or past its end: then `readAfter`. A poll behind a
   * room's head is answered on the spot from it (Hub).
   */
  readAfterNow?(room: string, after: number, limit: number): Entry[] | undefined;
  /** The newest entries with seq < before (or the newest of all when before is undefined), ascending, at most `limit`. */
  readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]>;
  /** One message by seq, folded; undefined when that seq is not a retained message. ROOM_NOT_FOUND. */
  readMessage(room: string, seq: number): Promise<MessageEntry | undefined>;
  /**
   * Moves `member`'s read position forward to `seq` (clamped to lastSeq; never backwards) and
   * records `name`. Resolves with the position stored now and the one before. ROOM_NOT_FOUND.
   * A position of 0 for a member that has none is not stored (it is what getReadPosition says
   * anyway). A room keeps at most MAX_READ_POSITIONS: a new one past that forgets the lowest
   * (ties: any of them; it may be the new one itself).
   */
  setReadPosition(room: string, member: string, name: string, seq: number): Promise<{ seq: number; previous: number }>;
  /** `member`'s read position (0 when none). ROOM_NOT_FOUND. */
  getReadPosition(room: string, member: string): Promise<number>;
  /** Read positions of the room, furthest first, at most `limit`. ROOM_NOT_FOUND. */
  listReadPositions(room: string, limit: number): Promise<ReadPosition[]>;
  /** Messages whose current text holds every word (as a prefix of one of its words); deleted ones never. ROOM_NOT_FOUND. */
  search(room: string, request: SearchRequest): Promise<SearchAnswer>;
  /** Applies retention to every room; resolves with how many entries were removed. Must not block the event loop for long. */
  trim(retention: Retention, now: number): Promise<number>;
  /**
   * A 32-byte random secret kept with the data: made by the first call on a new backend, then
   * the same for every instance on that backend (every process and node sharing it) and after
   * every restart, for as long as the data lasts. Getting or making it is one atomic step: N
   * instances asking at once on a new backend all get the one that was stored. A memory store
   * holds one per process (it keeps no data past it either). Keys derived from it name what must
   * not change across restarts and nodes (see session/derived-ids.ts). STORE_UNAVAILABLE.
   */
  nodeSecret(): Promise<Buffer>;
  /**
   * Keeps an administrator's disconnect order with the data, for the nodes that start later
   * (see Hub.recallDisconnects; used when the broker shares none: Broker.recentDisconnects). One
   * order per member and room (or member and every room): a later call replaces it. The store
   * keeps the latest MAX_DISCONNECTS_REMEMBERED (by `at`) of the last TICKET_MAX_AGE_MS at most,
   * dropping the rest as it writes. Each call is atomic: instances sharing a backend never lose
   * one another's orders beyond those bounds. STORE_UNAVAILABLE.
   */
  keepDisconnect(order: DisconnectOrder): Promise<void>;
  /**
   * The disconnect orders kept (keepDisconnect, by any instance on the backend) with `at` at or
   * after `since` (ms), oldest first; after a restart too, except from a memory store.
   * STORE_UNAVAILABLE.
   */
  recentDisconnects(since: number): Promise<DisconnectOrder[]>;
  /** True when the backend answers. */
  ping(): Promise<boolean>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/** A new epoch: random, short, URL- and cursor-safe. */
export function newEpoch(): string {
  return Math.random().toString(36).slice(2, 8) + Date.now().toString(36).slice(-4);
}

/**
 * The sender part of an idempotency key (see the contract): the stable member when the sender
 * has one, else its connection id.
 */
export function clientScope(from: Sender): string {
  return from.member ?? from.id;
}

/**
 * (scope, clientId) as one string, for indexes keyed by a single string. JSON rather than a
 * separator, so no scope or clientId, whatever it contains, can spell another pair.
 */
export function idempotencyKey(from: Sender, clientId: string): string {
  return JSON.stringify([clientScope(from), clientId]);
}

/** The idempotency key part of an entry or draft: its clientId (presence entries have none). */
export function clientIdOf(e: EntryDraft | Entry): string | undefined {
  return 'clientId' in e ? e.clientId : undefined;
}
