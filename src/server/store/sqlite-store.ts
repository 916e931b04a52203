import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, EntryType, JsonValue, MessageEntry, ReactionSummary, ReplyPreview, Sender } from '../../protocol/types.js';
import { amendmentEntry, applyReaction, checkTarget, erasedPreview, foldMessage, isAmendment, replyPreview, summarize, type Reactors } from './fold.js';
import { GroupCommit, type GroupCommitStats } from './group-commit.js';
import { RoomTailCache, tailAfter, type CachedRoom } from './room-tail-cache.js';
import { clientIdOf, clientScope, newEpoch, type AppendResult, type MessageStore, type ReadPosition, type Retention, type RoomPage, type RoomPageRequest, type RoomState, type SearchAnswer, type SearchRequest, MAX_READ_POSITIONS } from './message-store.js';
import { makeDir } from './make-dir.js';
import { MAX_DISCONNECTS_REMEMBERED, type DisconnectOrder } from '../broker/broker.js';
import { TICKET_MAX_AGE_MS } from '../session/presence-ticket.js';

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** Directory of the database file; created (recursively) when missing. */
  dataDir: string;
  /** File name inside `dataDir`. Default `switchboard.db`. */
  fileName?: string;
  /** Most rows one trim statement deletes before yielding to the event loop. Default 2000. */
  trimBatchSize?: number;
  /** How long a write waits for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * Most appends one group commit holds. Appends that arrive in the same event-loop turn share a
   * transaction and its sync; this many waiting run at once. Default 512.
   */
  maxBatchSize?: number;
  /**
   * While appends keep coming turn after turn, how long a batch may wait for more, in ms; it
   * waits no longer than recent commits took (one fsync and the writes), so a fast disk waits
   * next to nothing. Default 10.
   */
  maxWaitMs?: number;
  /** Rooms whose state and newest entries are kept in memory for reads. Default 256. */
  cachedRooms?: number;
  /** Newest entries kept per cached room. Default 128. */
  cachedEntries?: number;
  /**
   * Appends written by another process instead (the primary of `--workers` with
   * `--worker-appends primary`, which appends for every worker: processes that each commit their
   * own appends wait for each other's write lock, and commit smaller batches). Resolves once that
   * process committed the entry, as `append` does; a rejection that is not a catalog error
   * becomes STORE_UNAVAILABLE. The other writes (rooms, read positions, trims) stay this process's.
   */
  appendVia?: (draft: EntryDraft) => Promise<AppendResult>;
}

/**
 * Schema migrations, in order: migration i brings `PRAGMA user_version` from i to i + 1.
 * Append new ones at the end; never edit one that has shipped.
 */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => {
    db.exec(`
      CREATE TABLE rooms (
        name       TEXT PRIMARY KEY,
        epoch      TEXT NOT NULL,
        last_seq   INTEGER NOT NULL,
        first_seq  INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE entries (
        room      TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        ts        INTEGER NOT NULL,
        type      TEXT NOT NULL,
        sender    TEXT NOT NULL,
        text      TEXT,
        client_id TEXT,
        PRIMARY KEY (room, seq)
      );
      CREATE UNIQUE INDEX entries_room_client_id ON entries (room, client_id) WHERE client_id IS NOT NULL;
    `);
  },
  // Idempotency keys are per sender: (room, client_scope, client_id), client_scope being the
  // sender's member, else its connection id (clientScope()). Old rows get theirs from the sender
  // JSON; they were unique per (room, client_id), so they are unique per the new key too.
  (db) => {
    db.exec(`
      ALTER TABLE entries ADD COLUMN client_scope TEXT;
      UPDATE entries SET client_scope = COALESCE(json_extract(sender, '$.member'), json_extract(sender, '$.id'))
        WHERE client_id IS NOT NULL;
      DROP INDEX entries_room_client_id;
      CREATE UNIQUE INDEX entries_room_client_key ON entries (room, client_scope, client_id) WHERE client_id IS NOT NULL;
    `);
  },
  // The number of rooms, so that a capped createRoom need not count them. Triggers keep it, so
  // no write to rooms (ours, or an operator's in the sqlite3 shell) can forget to.
  (db) => {
    db.exec(`
      CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      INSERT INTO counters (name, value) SELECT 'rooms', COUNT(*) FROM rooms;
      CREATE TRIGGER rooms_counted_on_insert AFTER INSERT ON rooms
        BEGIN UPDATE counters SET value = value + 1 WHERE name = 'rooms'; END;
      CREATE TRIGGER rooms_counted_on_delete AFTER DELETE ON rooms
        BEGIN UPDATE counters SET value = value - 1 WHERE name = 'rooms'; END;
    `);
  },
  // Message payloads: `data` as JSON text (NULL when none was sent), the `event` name. Rows of
  // before have neither; a message's text stays in `text` ('' when only data was sent).
  (db) => {
    db.exec(`
      ALTER TABLE entries ADD COLUMN data TEXT;
      ALTER TABLE entries ADD COLUMN event TEXT;
    `);
  },
  // Issue 11: amendments, replies, reactions, read positions, search. An amendment's `target`;
  // a reply's `reply_to`; `extra` (JSON): a message's reply preview, a reaction's emoji and on;
  // `fold` (JSON): what amendments folded into a message (edited, deleted, reactions, folded).
  // Reactions by member (in order: rowid), read positions by member, and a contentless FTS5
  // index of messages' current text with secure-delete on, so a deleted text leaves no trace in
  // it (a row leaves it by the 'delete' command with the text it was indexed with: a contentless
  // table cannot purge tokens it is not told). `search_docs` maps the FTS rowid to (room, seq);
  // column `r` holds a token of the room.
  (db) => {
    db.exec(`
      ALTER TABLE entries ADD COLUMN target INTEGER;
      ALTER TABLE entries ADD COLUMN reply_to INTEGER;
      ALTER TABLE entries ADD COLUMN extra TEXT;
      ALTER TABLE entries ADD COLUMN fold TEXT;
      CREATE INDEX entries_target ON entries (room, target) WHERE target IS NOT NULL;
      CREATE INDEX entries_reply_to ON entries (room, reply_to) WHERE reply_to IS NOT NULL;
      CREATE TABLE reactions (
        id     INTEGER PRIMARY KEY,
        room   TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        emoji  TEXT NOT NULL,
        member TEXT NOT NULL,
        name   TEXT NOT NULL
      );
      CREATE UNIQUE INDEX reactions_key ON reactions (room, seq, emoji, member);
      CREATE TABLE read_positions (
        room   TEXT NOT NULL,
        member TEXT NOT NULL,
        name   TEXT NOT NULL,
        seq    INTEGER NOT NULL,
        PRIMARY KEY (room, member)
      );
      CREATE INDEX read_positions_by_seq ON read_positions (room, seq DESC);
      CREATE TABLE search_docs (
        id   INTEGER PRIMARY KEY,
        room TEXT NOT NULL,
        seq  INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX search_docs_key ON search_docs (room, seq);
      CREATE VIRTUAL TABLE search USING fts5(r, t, content='', tokenize='unicode61 remove_diacritics 2');
      INSERT INTO search (search, rank) VALUES ('secure-delete', 1);
      INSERT INTO search_docs (room, seq) SELECT room, seq FROM entries WHERE type = 'message' AND text <> '';
      INSERT INTO search (rowid, r, t) SELECT d.id, 'r' || lower(hex(d.room)), e.text FROM search_docs d JOIN entries e ON e.room = d.room AND e.seq = d.seq;
    `);
  },
  // The number of read positions of each room, so that a capped setReadPosition need not count
  // them (see MAX_READ_POSITIONS); triggers keep it, as the rooms' counter.
  (db) => {
    db.exec(`
      CREATE TABLE read_counts (
        room  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
      INSERT INTO read_counts (room, value) SELECT room, COUNT(*) FROM read_positions GROUP BY room;
      CREATE TRIGGER read_positions_counted_on_insert AFTER INSERT ON read_positions
        BEGIN INSERT INTO read_counts (room, value) VALUES (NEW.room, 1) ON CONFLICT (room) DO UPDATE SET value = value + 1; END;
      CREATE TRIGGER read_positions_counted_on_delete AFTER DELETE ON read_positions
        BEGIN
          UPDATE read_counts SET value = value - 1 WHERE room = OLD.room;
          DELETE FROM read_counts WHERE room = OLD.room AND value <= 0;
        END;
    `);
  },
  // Secrets kept with the data (nodeSecret), by name, each written once and never changed.
  (db) => {
    db.exec(`
      CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
      );
    `);
  },
  // Administrators' disconnect orders (keepDisconnect), one per member and room ('' for every room).
  (db) => {
    db.exec(`
      CREATE TABLE disconnects (
        member TEXT NOT NULL,
        room   TEXT NOT NULL,
        at     INTEGER NOT NULL,
        PRIMARY KEY (member, room)
      );
      CREATE INDEX disconnects_by_at ON disconnects (at);
    `);
  },
  // How many rows of a room's entries were changed in place (an amendment folded into its
  // target, an operator's UPDATE in the sqlite3 shell): a process caching a room's newest
  // entries (RoomTailCache) reads it with the room's state when another connection committed,
  // and starts the room's cache again when it moved. A trigger keeps it, so that no write, ours
  // or an operator's, can forget to.
  (db) => {
    db.exec(`
      ALTER TABLE rooms ADD COLUMN rewrites INTEGER NOT NULL DEFAULT 0;
      CREATE TRIGGER entries_rewritten AFTER UPDATE ON entries
        BEGIN UPDATE rooms SET rewrites = rewrites + 1 WHERE name = NEW.room; END;
    `);
  },
  // A message's text changed in place is indexed again by a trigger, ours (an edit, an erase) as
  // an operator's UPDATE in the sqlite3 shell: the search index is contentless with secure-delete,
  // so removing a row needs the text it was indexed with, and one changed behind its back made
  // every later removal of that row (a reset, a room deleted, a trim) fail as a corrupt file.
  (db) => {
    db.exec(`
      CREATE TRIGGER entries_text_indexed AFTER UPDATE OF text ON entries WHEN OLD.text IS NOT NEW.text
        BEGIN
          INSERT INTO search (search, rowid, r, t)
            SELECT 'delete', id, 'r' || lower(hex(OLD.room)), OLD.text FROM search_docs WHERE room = OLD.room AND seq = OLD.seq;
          DELETE FROM search_docs WHERE room = OLD.room AND seq = OLD.seq;
          INSERT INTO search_docs (room, seq) SELECT NEW.room, NEW.seq WHERE NEW.type = 'message' AND NEW.text <> '';
          INSERT INTO search (rowid, r, t)
            SELECT id, 'r' || lower(hex(NEW.room)), NEW.text FROM search_docs WHERE room = NEW.room AND seq = NEW.seq;
        END;
    `);
  },
];

/** The FTS token of a room (column r of the search index): its name in hex, so no tokenizer splits it. */
function roomToken(room: string): string {
  return 'r' + Buffer.from(room, 'utf8').toString('hex');
}

/** What amendments folded into a message, as stored in its `fold` column. */
interface FoldColumn {
  edited?: { seq: number; ts: number };
  deleted?: true;
  reactions?: ReactionSummary[];
  folded?: number;
}

interface RoomRow {
  name: string;
  epoch: string;
  last_seq: number;
  first_seq: number;
  /** Rows of its entries changed in place so far (the migration's trigger counts them). */
  rewrites: number;
}

interface EntryRow {
  room: string;
  seq: number;
  ts: number;
  type: EntryType;
  sender: string;
  text: string | null;
  client_id: string | null;
  /** clientScope(sender) when client_id is set, else null. */
  client_scope: string | null;
  /** The message's data as JSON, else null. */
  data: string | null;
  event: string | null;
  target: number | null;
  reply_to: number | null;
  /** JSON: a message's `{reply}`, a reaction's `{emoji, on}`. */
  extra: string | null;
  /** JSON: a message's {@link FoldColumn}. */
  fold: string | null;
}

type Statements = ReturnType<typeof prepare>;

/** One append's outcome inside a batch: its result, or the error it alone fails with. */
type AppendOutcome = { ok: true; value: AppendResult } | { ok: false; error: unknown };

/** What a batch of appends did: each append's outcome, and each room's new entries with its state after them. */
interface BatchResult {
  outcomes: AppendOutcome[];
  /** `amended`: an amendment changed earlier entries, so cached copies of the room are stale. */
  appended: { state: RoomState; rewrites: number; entries: Entry[]; amended: boolean }[];
  /** True when a delete erased text: the WAL is checkpointed before the batch resolves. */
  erased: boolean;
}

/**
 * How long a read position waits for others to share its commit, in ms: members' clients send
 * theirs one by one, each in a turn of its own (at most one a second each), so without a wait each
 * was a sync; with it, a node commits read positions about 20 times a second however many
 * members read (more only when over maxBatchSize come within the wait). Their answers (`marked`,
 * receipts) come that much later.
 */
const READ_LINGER_MS = 50;

/** A read position asked of setReadPosition, queued for the next commit of positions (SqliteStore's `reads`). */
interface ReadMark {
  room: string;
  member: string;
  name: string;
  seq: number;
}

/** What setReadPosition answers: the position stored now, and the one before. */
type ReadMarked = { seq: number; previous: number };

/** The write transactions, each run with BEGIN IMMEDIATE (see open()). */
interface Transactions {
  appendBatch(drafts: readonly EntryDraft[]): BatchResult;
  trimBatch(room: string, maxEntries: number, cutoff: number): { removed: number; more: boolean };
  createRoom(room: string, maxRooms: number): { state: RoomState; created: boolean };
  deleteRoom(room: string): boolean;
  resetRoom(room: string): RoomState;
  /**
   * A room's row and, read in the same snapshot, its entries after `after` when they can extend
   * a cache of the room at `epoch` and `rewrites` (at most `limit`; none read when the row says
   * there are none, more than `limit`, or the cache cannot stand).
   */
  readSince(room: string, after: number, epoch: string, rewrites: number, limit: number): { row: RoomRow | undefined; rows: EntryRow[] };
  /** Each read position of a batch (ReadMark), in order: its outcome, or the catalog error it alone fails with (ROOM_NOT_FOUND). */
  setReads(marks: readonly ReadMark[]): ReadonlyArray<{ ok: true; value: ReadMarked } | { ok: false; error: unknown }>;
  keepDisconnect(member: string, room: string, at: number, now: number): void;
}

function prepare(db: Database.Database) {
  return {
    ping: db.prepare('SELECT 1'),
    // OR IGNORE: a secret already stored (by any process) stays; the SELECT then reads the one that won.
    keepSecret: db.prepare<[string, Buffer]>('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)'),
    secret: db.prepare<[string], Buffer>('SELECT value FROM secrets WHERE name = ?').pluck(),
    keepDisconnect: db.prepare<[string, string, number]>('INSERT INTO disconnects (member, room, at) VALUES (?, ?, ?) ON CONFLICT (member, room) DO UPDATE SET at = excluded.at'),
    dropOldDisconnects: db.prepare<[number]>('DELETE FROM disconnects WHERE at < ?'),
    // Past the latest MAX_DISCONNECTS_REMEMBERED (a bounded table: the scan is bounded too).
    dropExtraDisconnects: db.prepare<[number]>('DELETE FROM disconnects WHERE rowid NOT IN (SELECT rowid FROM disconnects ORDER BY at DESC LIMIT ?)'),
    recentDisconnects: db.prepare<[number], { member: string; room: string; at: number }>('SELECT member, room, at FROM disconnects WHERE at >= ? ORDER BY at'),
    // Changes whenever another connection (this process or another) commits; our own commits leave it.
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    getRoom: db.prepare<[string], RoomRow>('SELECT name, epoch, last_seq, first_seq, rewrites FROM rooms WHERE name = ?'),
    // The primary key's index gives the order: a page costs O(log rooms + limit).
    listRooms: db.prepare<[string, number], RoomRow>('SELECT name, epoch, last_seq, first_seq, rewrites FROM rooms WHERE name > ? ORDER BY name LIMIT ?'),
    countRooms: db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'rooms'"),
    insertRoom: db.prepare<[string, string, number]>('INSERT INTO rooms (name, epoch, last_seq, first_seq, created_at) VALUES (?, ?, 0, 1, ?)'),
    deleteRoom: db.prepare<[string]>('DELETE FROM rooms WHERE name = ?'),
    restartRoom: db.prepare<[string, string]>('UPDATE rooms SET epoch = ?, last_seq = 0, first_seq = 1 WHERE name = ?'),
    setLastSeq: db.prepare<[number, string]>('UPDATE rooms SET last_seq = ? WHERE name = ?'),
    setFirstSeq: db.prepare<[number, string]>('UPDATE rooms SET first_seq = ? WHERE name = ?'),
    byClientKey: db.prepare<[string, string, string], EntryRow>('SELECT * FROM entries WHERE room = ? AND client_scope = ? AND client_id = ?'),
    insertEntry: db.prepare<[string, number, number, string, string, string | null, string | null, string | null, string | null, string | null, number | null, number | null, string | null, string | null]>(
      // A row with the same idempotency key is left as it is (changes 0): a keyed message is written
      // without a lookup first, and only a retry pays for one (appendBatchInTx).
      'INSERT INTO entries (room, seq, ts, type, sender, text, client_id, client_scope, data, event, target, reply_to, extra, fold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)' +
        ' ON CONFLICT (room, client_scope, client_id) WHERE client_id IS NOT NULL DO NOTHING',
    ),
    deleteEntries: db.prepare<[string]>('DELETE FROM entries WHERE room = ?'),
    entryAt: db.prepare<[string, number], EntryRow>('SELECT * FROM entries WHERE room = ? AND seq = ?'),
    setText: db.prepare<[string, string | null, string, number]>('UPDATE entries SET text = ?, fold = ? WHERE room = ? AND seq = ?'),
    setFold: db.prepare<[string | null, string, number]>('UPDATE entries SET fold = ? WHERE room = ? AND seq = ?'),
    eraseMessage: db.prepare<[string, string, number]>('UPDATE entries SET text = \'\', data = NULL, event = NULL, extra = NULL, fold = ? WHERE room = ? AND seq = ?'),
    eraseEdits: db.prepare<[string, number]>("UPDATE entries SET text = '' WHERE room = ? AND target = ? AND type = 'edit'"),
    repliesTo: db.prepare<[string, number], { seq: number; extra: string | null }>("SELECT seq, extra FROM entries WHERE room = ? AND reply_to = ? AND type = 'message'"),
    setExtra: db.prepare<[string | null, string, number]>('UPDATE entries SET extra = ? WHERE room = ? AND seq = ?'),
    reactorsOf: db.prepare<[string, number], { emoji: string; member: string; name: string }>('SELECT emoji, member, name FROM reactions WHERE room = ? AND seq = ? ORDER BY id'),
    addReaction: db.prepare<[string, number, string, string, string]>('INSERT INTO reactions (room, seq, emoji, member, name) VALUES (?, ?, ?, ?, ?)'),
    removeReaction: db.prepare<[string, number, string, string]>('DELETE FROM reactions WHERE room = ? AND seq = ? AND emoji = ? AND member = ?'),
    removeReactions: db.prepare<[string, number]>('DELETE FROM reactions WHERE room = ? AND seq = ?'),
    removeRoomReactions: db.prepare<[string]>('DELETE FROM reactions WHERE room = ?'),
    removeReactionsBelow: db.prepare<[string, number, number]>('DELETE FROM reactions WHERE room = ? AND seq >= ? AND seq < ?'),
    getRead: db.prepare<[string, string], { seq: number }>('SELECT seq FROM read_positions WHERE room = ? AND member = ?'),
    setRead: db.prepare<[string, string, string, number]>(
      'INSERT INTO read_positions (room, member, name, seq) VALUES (?, ?, ?, ?) ON CONFLICT (room, member) DO UPDATE SET name = excluded.name, seq = MAX(seq, excluded.seq)',
    ),
    listReads: db.prepare<[string, number], { member: string; name: string; seq: number }>('SELECT member, name, seq FROM read_positions WHERE room = ? ORDER BY seq DESC, member LIMIT ?'),
    removeRoomReads: db.prepare<[string]>('DELETE FROM read_positions WHERE room = ?'),
    countReads: db.prepare<[string], number>('SELECT value FROM read_counts WHERE room = ?').pluck(),
    // The lowest by the (room, seq DESC) index, read backwards.
    dropLowestRead: db.prepare<[string, string]>('DELETE FROM read_positions WHERE room = ? AND member = (SELECT member FROM read_positions WHERE room = ? ORDER BY seq ASC LIMIT 1)'),
    addDoc: db.prepare<[string, number]>('INSERT INTO search_docs (room, seq) VALUES (?, ?)'),
    addIndexed: db.prepare<[number, string, string]>('INSERT INTO search (rowid, r, t) VALUES (?, ?, ?)'),
    removeIndexed: db.prepare<[number, string, string]>("INSERT INTO search (search, rowid, r, t) VALUES ('delete', ?, ?, ?)"),
    indexedRange: db.prepare<[string, number, number], { id: number; text: string | null }>(
      'SELECT d.id, e.text FROM search_docs d LEFT JOIN entries e ON e.room = d.room AND e.seq = d.seq WHERE d.room = ? AND d.seq >= ? AND d.seq < ?',
    ),
    removeDocsRange: db.prepare<[string, number, number]>('DELETE FROM search_docs WHERE room = ? AND seq >= ? AND seq < ?'),
    search: db.prepare<[string, string, number, number], EntryRow>(
      'SELECT e.* FROM search JOIN search_docs d ON d.id = search.rowid JOIN entries e ON e.room = d.room AND e.seq = d.seq WHERE search MATCH ? AND d.room = ? AND d.seq < ? ORDER BY d.seq DESC LIMIT ?',
    ),
    readAfter: db.prepare<[string, number, number], EntryRow>('SELECT * FROM entries WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?'),
    readBefore: db.prepare<[string, number, number], EntryRow>('SELECT * FROM entries WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
    firstYoung: db.prepare<[string, number, number, number], { seq: number }>(
      'SELECT seq FROM entries WHERE room = ? AND seq BETWEEN ? AND ? AND ts >= ? ORDER BY seq LIMIT 1',
    ),
    deleteBelow: db.prepare<[string, number, number]>('DELETE FROM entries WHERE room = ? AND seq >= ? AND seq < ?'),
    // A page of rooms by name, each with whether it holds anything to trim: more entries than
    // kept, or a first entry older than the cutoff (a lookup by primary key).
    trimDue: db.prepare<[{ after: string; maxEntries: number; cutoff: number; limit: number }], { name: string; due: number }>(
      `SELECT name, (first_seq <= last_seq AND (last_seq - first_seq + 1 > @maxEntries
         OR (SELECT ts FROM entries e WHERE e.room = rooms.name AND e.seq = rooms.first_seq) < @cutoff)) AS due
       FROM rooms WHERE name > @after ORDER BY name LIMIT @limit`,
    ),
  };
}

/** Entries come back in the memory store's shape: optional keys are absent, never null. */
function toEntry(row: EntryRow): Entry {
  return entryOf(row, JSON.parse(row.sender) as Sender);
}

/** The entry of a row, with its sender given: the one a row was just written with (its sender column is that JSON), not read back. */
function entryOf(row: EntryRow, from: Sender): Entry {
  const base = { room: row.room, seq: row.seq, ts: row.ts, from };
  const cid = row.client_id !== null ? { clientId: row.client_id } : {};
  switch (row.type) {
    case 'join':
    case 'leave':
      return { type: row.type, ...base };
    case 'edit':
      return { type: 'edit', ...base, target: row.target!, ...cid, text: row.text ?? '' };
    case 'delete':
      return { type: 'delete', ...base, target: row.target!, ...cid };
    case 'reaction': {
      const x = JSON.parse(row.extra!) as { emoji: string; on: boolean };
      return { type: 'reaction', ...base, target: row.target!, ...cid, emoji: x.emoji, on: x.on };
    }
    case 'message':
      break;
  }
  const entry: MessageEntry = { type: 'message', ...base, text: row.text ?? '' };
  if (row.data !== null) entry.data = JSON.parse(row.data) as JsonValue;
  if (row.event !== null) entry.event = row.event;
  if (row.client_id !== null) entry.clientId = row.client_id;
  if (row.reply_to !== null) entry.replyTo = row.reply_to;
  if (row.extra !== null) {
    const x = JSON.parse(row.extra) as { reply?: ReplyPreview };
    if (x.reply) entry.reply = x.reply;
  }
  if (row.fold !== null) Object.assign(entry, JSON.parse(row.fold) as FoldColumn);
  return entry;
}

/** The fold column of a (folded) message. */
function foldColumn(m: MessageEntry): string | null {
  const f: FoldColumn = {};
  if (m.edited) f.edited = m.edited;
  if (m.deleted) f.deleted = true;
  if (m.reactions) f.reactions = m.reactions;
  if (m.folded !== undefined) f.folded = m.folded;
  return Object.keys(f).length > 0 ? JSON.stringify(f) : null;
}

function toState(row: RoomRow): RoomState {
  return { name: row.name, epoch: row.epoch, lastSeq: row.last_seq, firstSeq: row.first_seq };
}

/** Infinity (no bound) as a number SQLite compares correctly. */
function bound(n: number): number {
  return Number.isFinite(n) ? Math.floor(n) : Number.MAX_SAFE_INTEGER;
}

/**
 * The durable store (`--store sqlite`): one SQLite file in WAL mode, shared by every process
 * that opens it.
 *
 * Group commit: appends that arrive in the same event-loop turn (at most `maxBatchSize`) are
 * written on the next turn in one transaction with one sync (`synchronous = FULL`); while more
 * keep coming turn after turn, the batch waits for them up to about one commit's duration
 * (`maxWaitMs` at most: see {@link GroupCommit}). Each
 * append's promise resolves only after that commit, so an acknowledged entry survives a crash of
 * the process (kill -9), of the OS, or a power loss. Within a batch each append keeps its own
 * outcome: a duplicate clientId (also of an earlier append of the same batch) returns the
 * original, ROOM_NOT_FOUND fails that append alone. When the batch itself fails (the write lock
 * not had within `busyTimeoutMs`, a full disk, an I/O error) it is rolled back and every append
 * of it rejects with STORE_UNAVAILABLE: none is stored.
 *
 * Several processes: every write transaction takes the write lock up front (BEGIN IMMEDIATE),
 * waiting up to `busyTimeoutMs` for it, and reads each room's last_seq inside it, so seqs are
 * gapless and unique across processes. A batch of appends waits for the lock without blocking
 * the event loop: while another process holds it, the batch is tried again a moment later (see
 * GroupCommit), and only a flush that must be done before a room write waits in SQLite's busy
 * handler (which sleeps, this process's event loop with it: the driver is synchronous), as do
 * the other writes. `trim` takes the lock only for the rooms a read found something to trim in.
 * No write decides from a cached state. Every read sees what any
 * process committed before it began: it answers from the {@link RoomTailCache} (rooms' states
 * and newest entries, kept from this process's own commits) only while `PRAGMA data_version`
 * says no other connection committed since, else from the file. A read never sees an append
 * that is still queued or whose batch is running: a batch is written and committed within one
 * synchronous call, and cached only after its commit.
 *
 * `createRoom`, `deleteRoom` and `resetRoom` first run the appends already queued, so one
 * process's writes reach the file in the order they were called. `trim` works in batches of
 * `trimBatchSize` rows and yields between them.
 */
export class SqliteStore implements MessageStore {
  readonly kind = 'sqlite';
  /** The database file. */
  readonly path: string;
  private readonly dataDir: string;
  private readonly trimBatchSize: number;
  private readonly busyTimeoutMs: number;
  private readonly maxBatchSize: number;
  private readonly maxWaitMs: number;
  private db: Database.Database | undefined;
  private stmts: Statements | undefined;
  private txs: Transactions | undefined;
  private appends: GroupCommit<EntryDraft, AppendResult> | undefined;
  /**
   * Read positions, committed in groups as appends are: those asked within READ_LINGER_MS share
   * one transaction and its sync. Each was its own transaction (an fsync, the event loop waiting
   * on it) after a flush of the queued appends.
   */
  private reads: GroupCommit<ReadMark, ReadMarked> | undefined;
  private readonly appendVia: SqliteStoreOptions['appendVia'];
  /** Appends sent to `appendVia` and not answered yet, each settled (never rejecting). */
  private readonly sentAppends = new Set<Promise<void>>();
  /**
   * With `appendVia`, the room write (create, delete, reset) under way, settled (never rejecting):
   * appends asked meanwhile are sent once it is done, so they reach the file after it, as asked.
   */
  private roomWrite: Promise<void> | undefined;
  private readonly cache: RoomTailCache;
  /** `PRAGMA data_version` as `cached` last read it (before any read that followed it). */
  private dataVersion = -1;

  constructor(options: SqliteStoreOptions) {
    this.dataDir = options.dataDir;
    this.path = join(options.dataDir, options.fileName ?? 'switchboard.db');
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.maxBatchSize = options.maxBatchSize ?? 512;
    this.maxWaitMs = options.maxWaitMs ?? 10;
    this.appendVia = options.appendVia;
    this.cache = new RoomTailCache(options.cachedRooms ?? 256, options.cachedEntries ?? 128);
  }

  /** The commits of read positions since init (batches, positions they held, the largest, busy tries): for tests and benchmarks. */
  get readCommitStats(): GroupCommitStats {
    return this.reads?.stats() ?? { commits: 0, items: 0, largestBatch: 0, busyRetries: 0 };
  }

  /** Group commits run since init (batches, appends they held, the largest, tries that found the lock busy): for /metrics, tests and benchmarks. */
  get commitStats(): GroupCommitStats {
    return this.appends?.stats() ?? { commits: 0, items: 0, largestBatch: 0, busyRetries: 0 };
  }

  /** Opens the file, sets the pragmas and migrates the schema. Throws STORE_UNAVAILABLE when it cannot. */
  async init(): Promise<void> {
    try {
      this.open();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** From memory when this room is cached and no other connection committed since: see {@link RoomTailCache}. */
  async getRoom(room: string): Promise<RoomState | undefined> {
    return this.guard(() => {
      const cached = this.cached(room);
      if (cached) return { ...cached.state };
      const row = this.s().getRoom.get(room);
      if (!row) return undefined;
      const state = toState(row);
      this.cache.setState(state, this.dataVersion, row.rewrites);
      return state;
    });
  }

  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    return this.inOrder(() => {
      this.cache.delete(room);
      return this.guard(() => this.tx().createRoom(room, maxRooms));
    });
  }

  async countRooms(): Promise<number> {
    return this.guard(() => this.s().countRooms.get()!.value);
  }

  async listRooms(page: RoomPageRequest): Promise<RoomPage> {
    const limit = Math.max(1, Math.floor(page.limit));
    return this.guard(() => {
      // One more than asked says whether a next page exists.
      const rows = this.s().listRooms.all(page.after ?? '', limit + 1);
      const rooms = rows.slice(0, limit).map(toState);
      return rows.length > limit ? { rooms, next: rooms[rooms.length - 1]!.name } : { rooms };
    });
  }

  /** One transaction, however many entries the room has: the event loop waits while it runs. */
  async deleteRoom(room: string): Promise<boolean> {
    return this.inOrder(() => {
      try {
        return this.guard(() => this.tx().deleteRoom(room));
      } finally {
        this.cache.delete(room);
      }
    });
  }

  /** One transaction, however many entries the room has: the event loop waits while it runs. */
  async resetRoom(room: string): Promise<RoomState> {
    return this.inOrder(() => {
      try {
        return this.guard(() => this.tx().resetRoom(room));
      } finally {
        this.cache.delete(room);
      }
    });
  }

  /** Queued for the next group commit; resolves after the commit that holds it (see the class). */
  append(draft: EntryDraft): Promise<AppendResult> {
    if (!this.appends) return Promise.reject(new SwitchboardError('STORE_UNAVAILABLE', 'the SQLite store is not open'));
    if (this.appendVia) return this.sendAppend(this.appendVia, draft);
    return this.appends.submit(draft);
  }

  /** An append written by another process (see SqliteStoreOptions.appendVia), after the room write under way, counted until it is answered. */
  private sendAppend(via: NonNullable<SqliteStoreOptions['appendVia']>, draft: EntryDraft): Promise<AppendResult> {
    const sent = (this.roomWrite ? this.roomWrite.then(() => via(draft)) : via(draft)).catch((err: unknown) => Promise.reject(toStoreError(err)));
    const settled = sent.then(noop, noop);
    this.sentAppends.add(settled);
    void settled.then(() => this.sentAppends.delete(settled));
    return sent;
  }

  /**
   * Once every append asked of this store before now is written (or failed): the queued ones
   * committed at once, those sent to `appendVia` answered.
   */
  private async appendsWritten(): Promise<void> {
    this.appends?.flush();
    if (this.sentAppends.size > 0) await Promise.all([...this.sentAppends]);
  }

  /**
   * Runs a room write after every append asked before it, and before those asked after it (with
   * `appendVia`, they wait for it): one process's writes reach the file in the order they were
   * called. Without `appendVia`, at once: the queued appends are committed first, synchronously.
   */
  private async inOrder<T>(write: () => T): Promise<T> {
    if (!this.appendVia) {
      this.appends?.flush();
      this.reads?.flush();
      return write();
    }
    const before = this.roomWrite;
    const pending = this.sentAppends.size > 0 ? Promise.all([...this.sentAppends]) : undefined;
    const run = (async () => {
      await before;
      await pending;
      this.reads?.flush();
      return write();
    })();
    const done = run.then(noop, noop);
    this.roomWrite = done;
    void done.then(() => {
      if (this.roomWrite === done) this.roomWrite = undefined;
    });
    return run;
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      const cached = this.cached(room);
      if (cached && after >= cached.tailFrom) return tailAfter(cached, after, limit);
      const rows = limit > 0 ? this.s().readAfter.all(room, after, limit) : [];
      // Entries go with their room (deleteRoom removes both at once), so rows prove it exists:
      // only an empty page needs a second statement.
      if (rows.length === 0) this.mustExist(room);
      return rows.map(toEntry);
    });
  }

  /** From the tail cache only (one `PRAGMA data_version` to know it is current); undefined when it does not hold the answer. */
  readAfterNow(room: string, after: number, limit: number): Entry[] | undefined {
    if (!this.stmts) return undefined;
    let cached: CachedRoom | undefined;
    try {
      cached = this.cached(room);
    } catch {
      return undefined; // readAfter says what is wrong
    }
    if (!cached || after < cached.tailFrom || after < cached.state.firstSeq - 1 || after > cached.state.lastSeq) return undefined;
    return tailAfter(cached, after, limit);
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      const rows = limit > 0 ? this.s().readBefore.all(room, before ?? Number.MAX_SAFE_INTEGER, limit) : [];
      if (rows.length === 0) this.mustExist(room);
      return rows.map(toEntry).reverse();
    });
  }

  async readMessage(room: string, seq: number): Promise<MessageEntry | undefined> {
    this.appends?.flush();
    return this.guard(() => {
      const row = this.s().entryAt.get(room, seq);
      if (!row) this.mustExist(room);
      return row?.type === 'message' ? (toEntry(row) as MessageEntry) : undefined;
    });
  }

  /** Queued for the next commit of read positions; resolves after the commit that holds it (see `reads`). */
  async setReadPosition(room: string, member: string, name: string, seq: number): Promise<ReadMarked> {
    if (!this.reads) throw new SwitchboardError('STORE_UNAVAILABLE', 'the SQLite store is not open');
    return this.reads.submit({ room, member, name, seq });
  }

  async getReadPosition(room: string, member: string): Promise<number> {
    this.reads?.flush();
    return this.guard(() => {
      const row = this.s().getRead.get(room, member);
      if (!row) this.mustExist(room);
      return row?.seq ?? 0;
    });
  }

  async listReadPositions(room: string, limit: number): Promise<ReadPosition[]> {
    this.reads?.flush();
    return this.guard(() => {
      this.mustExist(room);
      return this.s().listReads.all(room, Math.max(0, Math.floor(limit)));
    });
  }

  /** FTS5: each word a quoted prefix (`t:"word"*`), never the user's text as FTS syntax. */
  async search(room: string, request: SearchRequest): Promise<SearchAnswer> {
    this.appends?.flush();
    return this.guard(() => {
      this.mustExist(room);
      const words = request.words.filter((w) => /^[\p{L}\p{N}]+$/u.test(w));
      if (words.length === 0) return { results: [], more: false, complete: true };
      const match = [`r:${roomToken(room)}`, ...words.map((w) => `t:"${w}"*`)].join(' AND ');
      const rows = this.s().search.all(match, room, bound(request.before ?? Infinity), request.limit + 1);
      const results = rows.slice(0, request.limit).map((r) => toEntry(r) as MessageEntry);
      return { results, more: rows.length > request.limit, complete: true };
    });
  }

  async trim(retention: Retention, now: number): Promise<number> {
    const maxEntries = Math.max(0, bound(retention.maxEntries));
    const cutoff = Number.isFinite(retention.maxAgeMs) ? now - retention.maxAgeMs : -Number.MAX_SAFE_INTEGER;
    // Read first, without the write lock: only rooms with something to trim take it (every
    // process of --workers runs this, on the same file, every 10 s). A page at a time, yielding.
    const due: string[] = [];
    for (let after = ''; ; ) {
      const page = this.guard(() => this.s().trimDue.all({ after, maxEntries, cutoff, limit: 1000 }));
      for (const row of page) if (row.due) due.push(row.name);
      if (page.length < 1000) break;
      after = page.at(-1)!.name;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    let removed = 0;
    for (const name of due) {
      for (;;) {
        const batch = this.guard(() => this.tx().trimBatch(name, maxEntries, cutoff));
        if (batch.removed > 0) this.cache.delete(name);
        removed += batch.removed;
        // Yield between statements so a big backlog never stalls the event loop.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!batch.more) break;
      }
    }
    return removed;
  }

  /** One row of `secrets`, inserted if missing (each statement is atomic, and the first insert wins). */
  async nodeSecret(): Promise<Buffer> {
    return this.guard(() => {
      const s = this.s();
      s.keepSecret.run('node', randomBytes(32));
      return s.secret.get('node')!;
    });
  }

  /** One write transaction: the order, then what is past the bounds (age, count) is deleted. */
  async keepDisconnect(order: DisconnectOrder): Promise<void> {
    this.guard(() => this.tx().keepDisconnect(order.member, order.room ?? '', order.at, Date.now()));
  }

  async recentDisconnects(since: number): Promise<DisconnectOrder[]> {
    return this.guard(() => this.s().recentDisconnects.all(since).map((row) => ({ member: row.member, ...(row.room !== '' ? { room: row.room } : {}), at: row.at })));
  }

  async ping(): Promise<boolean> {
    try {
      this.s().ping.get();
      return true;
    } catch {
      return false;
    }
  }

  /** Commits the appends still queued and waits for those sent to `appendVia` (they resolve or reject as usual), then closes the file. */
  async close(): Promise<void> {
    await this.appendsWritten();
    this.reads?.flush();
    this.reads = undefined;
    this.appends = undefined;
    this.cache.clear();
    this.db?.close();
    this.db = undefined;
    this.stmts = undefined;
    this.txs = undefined;
  }

  private open(): void {
    // Outside guard: a folder that cannot be made is a configuration error, not an outage.
    makeDir(this.dataDir);
    this.guard(() => {
      const db = new Database(this.path, { timeout: this.busyTimeoutMs });
      this.db = db;
      // Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
      // (no busy handler) while another process does the same: retry for up to busyTimeoutMs.
      retryWhileBusy(() => db.pragma('journal_mode = WAL'), this.busyTimeoutMs);
      // In WAL mode NORMAL already survives kill -9 (a commit is in the OS's page cache once
      // write() returns), but not an OS crash or power loss. FULL fsyncs the WAL at every commit,
      // so "acknowledged" means "on disk" whatever dies: the price is one fsync per append.
      db.pragma('synchronous = FULL');
      // Deleted content is overwritten with zeros, not left in free space (erasure, issue 11).
      db.pragma('secure_delete = ON');
      this.migrate(db);
      const stmts = prepare(db);
      // IMMEDIATE takes the write lock before the first read (of last_seq, of the room count), so
      // two processes never decide on the same state, and a reader never has to be upgraded to a
      // writer (which could deadlock).
      const immediate = <A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) => {
        const tx = db.transaction(fn);
        return (...args) => tx.immediate(...args);
      };
      this.txs = {
        appendBatch: immediate((drafts: readonly EntryDraft[]) => appendBatchInTx(stmts, drafts)),
        trimBatch: immediate((room: string, maxEntries: number, cutoff: number) => this.trimBatchInTx(stmts, room, maxEntries, cutoff)),
        createRoom: immediate((room: string, maxRooms: number) => createRoomInTx(stmts, room, maxRooms)),
        deleteRoom: immediate((room: string) => {
          dropRoomData(stmts, room);
          stmts.deleteEntries.run(room);
          return stmts.deleteRoom.run(room).changes === 1;
        }),
        // In order: a member's second position of a batch sees its first.
        setReads: immediate((marks: readonly ReadMark[]) =>
          marks.map((mark) => {
            try {
              return { ok: true as const, value: setReadInTx(stmts, mark) };
            } catch (error) {
              // A catalog error (ROOM_NOT_FOUND) is that position's alone; anything else fails the batch.
              if (error instanceof SwitchboardError) return { ok: false as const, error };
              throw error;
            }
          }),
        ),
        keepDisconnect: immediate((member: string, room: string, at: number, now: number) => {
          stmts.keepDisconnect.run(member, room, at);
          stmts.dropOldDisconnects.run(now - TICKET_MAX_AGE_MS);
          stmts.dropExtraDisconnects.run(MAX_DISCONNECTS_REMEMBERED);
        }),
        // One snapshot (a deferred transaction reads one): the state and the rows agree.
        readSince: db.transaction((room: string, after: number, epoch: string, rewrites: number, limit: number) => {
          const row = stmts.getRoom.get(room);
          const follows = row !== undefined && row.epoch === epoch && row.rewrites === rewrites && row.last_seq > after && row.last_seq - after <= limit;
          return { row, rows: follows ? stmts.readAfter.all(room, after, limit) : [] };
        }),
        resetRoom: immediate((room: string) => {
          if (!stmts.getRoom.get(room)) throw new SwitchboardError('ROOM_NOT_FOUND', room);
          const epoch = newEpoch();
          dropRoomData(stmts, room);
          stmts.deleteEntries.run(room);
          stmts.restartRoom.run(epoch, room);
          return { name: room, epoch, lastSeq: 0, firstSeq: 1 };
        }),
      };
      this.stmts = stmts;
      const txs = this.txs;
      // A batch that may not wait takes the write lock only if it is free: SQLite's busy handler
      // would sleep with the event loop (every client of this process) while another process
      // commits; GroupCommit tries such a batch again a moment later instead (a worker of
      // --workers meets the others' commits all the time).
      // (db.pragma each time, about 9 µs the two: a prepared PRAGMA busy_timeout takes effect
      // when it is compiled, not when it is run again.)
      const waitMs = `busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`;
      const withoutWaiting = <T>(write: () => T): T => {
        db.pragma('busy_timeout = 0');
        try {
          return write();
        } finally {
          db.pragma(waitMs);
        }
      };
      const appendBatch = (drafts: readonly EntryDraft[], mayWait: boolean): ReturnType<Transactions['appendBatch']> =>
        mayWait ? txs.appendBatch(drafts) : withoutWaiting(() => txs.appendBatch(drafts));
      const runBatch = (drafts: readonly EntryDraft[], mayWait: boolean): AppendOutcome[] => {
        const { outcomes, appended, erased } = appendBatch(drafts, mayWait);
        // Committed: only now may reads see these entries. An amendment changed older entries: the room's copies go.
        for (const { state, rewrites, entries, amended } of appended) {
          if (amended) this.cache.delete(state.name);
          else this.cache.appended(state, entries, rewrites);
        }
        // Erased text must not stay in the WAL: copy it into the file (where secure_delete zeroed
        // the old cells) and truncate the WAL, before any ack of the batch.
        if (erased) checkpoint(db, this.busyTimeoutMs);
        return outcomes;
      };
      const busy = { isBusy: (err: unknown) => String((err as { code?: unknown }).code).startsWith('SQLITE_BUSY'), timeoutMs: this.busyTimeoutMs };
      this.appends = new GroupCommit(runBatch, toStoreError, { maxBatchSize: this.maxBatchSize, maxWaitMs: this.maxWaitMs, busy });
      // Read positions: one transaction of their own, which takes the lock as a batch of appends
      // does. Each is clamped to the last seq committed: appends still queued have no seq yet,
      // so no client can have been told of one (entries go out once committed); nothing queued
      // need be run first, nor waited for.
      this.reads = new GroupCommit(
        (marks: readonly ReadMark[], mayWait: boolean) => (mayWait ? txs.setReads(marks) : withoutWaiting(() => txs.setReads(marks))),
        toStoreError,
        { maxBatchSize: this.maxBatchSize, maxWaitMs: this.maxWaitMs, busy, lingerMs: READ_LINGER_MS },
      );
    });
  }

  /**
   * Removes at most one batch of the oldest entries of a room: those beyond `maxEntries`, then
   * those older than `cutoff` up to the first young one. Relies on the invariant that every seq
   * in [first_seq, last_seq] is present.
   */
  private trimBatchInTx(s: Statements, name: string, maxEntries: number, cutoff: number): { removed: number; more: boolean } {
    const room = s.getRoom.get(name);
    if (!room || room.first_seq > room.last_seq) return { removed: 0, more: false };
    const first = room.first_seq;
    const windowEnd = Math.min(first + this.trimBatchSize - 1, room.last_seq);
    const youngFrom = Math.max(first, room.last_seq - maxEntries + 1);
    const newFirst = youngFrom > windowEnd ? windowEnd + 1 : (s.firstYoung.get(name, youngFrom, windowEnd, cutoff)?.seq ?? windowEnd + 1);
    if (newFirst === first) return { removed: 0, more: false };
    unindexRange(s, name, first, newFirst);
    s.removeReactionsBelow.run(name, first, newFirst);
    s.deleteBelow.run(name, first, newFirst);
    s.setFirstSeq.run(newFirst, name);
    return { removed: newFirst - first, more: newFirst === windowEnd + 1 && windowEnd < room.last_seq };
  }

  /** Brings the schema up to date. The version is read inside the write lock, so two processes opening a new file migrate it once. */
  private migrate(db: Database.Database): void {
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new SwitchboardError('STORE_UNAVAILABLE', `${this.path} has schema version ${version}, newer than this build's ${MIGRATIONS.length}`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
    }).immediate();
  }

  /**
   * The room from the cache, caught up with what other connections committed since it was last
   * known to be current (RoomTailCache.caughtUp): a read never answers from older data than the
   * file holds when it starts.
   */
  private cached(room: string): CachedRoom | undefined {
    const version = (this.dataVersion = this.s().dataVersion.get()!);
    const cached = this.cache.get(room);
    if (cached === undefined || cached.version === version) return cached;
    // Another connection committed since (a worker's appends are all the primary's): the room's
    // state and what it added to this room, read in one transaction (a query of the few new
    // rows, none when it added none: a commit to another room; not the page a poll asks).
    const { row, rows } = this.tx().readSince(room, cached.state.lastSeq, cached.state.epoch, cached.rewrites, this.cache.maxEntries);
    if (row === undefined) {
      this.cache.delete(room);
      return undefined;
    }
    return this.cache.caughtUp(cached, toState(row), row.rewrites, rows.map(toEntry), version);
  }

  private mustExist(room: string): void {
    if (!this.s().getRoom.get(room)) throw new SwitchboardError('ROOM_NOT_FOUND', room);
  }

  private s(): Statements {
    if (!this.stmts) throw new SwitchboardError('STORE_UNAVAILABLE', 'the SQLite store is not open');
    return this.stmts;
  }

  private tx(): Transactions {
    if (!this.txs) throw new SwitchboardError('STORE_UNAVAILABLE', 'the SQLite store is not open');
    return this.txs;
  }

  /** Runs `fn`, turning any failure that is not already a SwitchboardError into STORE_UNAVAILABLE. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw toStoreError(err);
    }
  }
}

function noop(): void {}

/** A SwitchboardError as it is; anything else (a driver error) as STORE_UNAVAILABLE. */
function toStoreError(err: unknown): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  return new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
}

/**
 * Writes a batch of appends inside one write transaction. Each room's row is read once, inside
 * the write lock (so never stale, whatever other processes did before), and its last_seq written
 * once at the end. An append that fails on its own (ROOM_NOT_FOUND) fails before it writes
 * anything, so the others go on; any other error (a driver error) is thrown, and the whole
 * batch rolls back.
 */
/** Moves a member's read position forward (clamped to the room's last seq), in the caller's transaction; see MessageStore.setReadPosition. */
function setReadInTx(s: Statements, { room, member, name, seq }: ReadMark): ReadMarked {
  const state = s.getRoom.get(room);
  if (!state) throw new SwitchboardError('ROOM_NOT_FOUND', room);
  const known = s.getRead.get(room, member);
  const previous = known?.seq ?? 0;
  const next = Math.max(previous, Math.min(Math.max(0, Math.floor(seq)), state.last_seq));
  if (known === undefined && next === 0) return { seq: 0, previous: 0 };
  s.setRead.run(room, member, name, next);
  // Only a new member's position can pass the cap: looked at then only.
  if (known === undefined && (s.countReads.get(room) ?? 0) > MAX_READ_POSITIONS) s.dropLowestRead.run(room, room);
  return { seq: next, previous };
}

function appendBatchInTx(s: Statements, drafts: readonly EntryDraft[]): BatchResult {
  const rooms = new Map<string, RoomRow | undefined>();
  const touched = new Map<RoomRow, { entries: Entry[]; amended: boolean }>();
  const outcomes: AppendOutcome[] = [];
  let erased = false;
  for (const draft of drafts) {
    let room = rooms.get(draft.room);
    if (!rooms.has(draft.room)) {
      room = s.getRoom.get(draft.room);
      rooms.set(draft.room, room);
    }
    if (!room) {
      outcomes.push({ ok: false, error: new SwitchboardError('ROOM_NOT_FOUND', draft.room) });
      continue;
    }
    const clientId = clientIdOf(draft);
    // Sees the rows this batch wrote already: a duplicate within the batch returns the first.
    const original = clientId === undefined || writesOnce(draft) ? undefined : s.byClientKey.get(draft.room, clientScope(draft.from), clientId);
    if (original) {
      outcomes.push({ ok: true, value: { entry: toEntry(original), epoch: room.epoch, duplicate: true } });
      continue;
    }
    let entry: Entry | undefined;
    try {
      entry = writeEntry(s, room, draft, clientId);
    } catch (err) {
      // A refused amendment or reply (MESSAGE_NOT_FOUND, ...) fails alone; it wrote nothing.
      if (err instanceof SwitchboardError) {
        outcomes.push({ ok: false, error: err });
        continue;
      }
      throw err;
    }
    if (entry === undefined) {
      // A keyed message whose key was taken: the original is answered.
      outcomes.push({ ok: true, value: { entry: toEntry(s.byClientKey.get(draft.room, clientScope(draft.from), clientId!)!), epoch: room.epoch, duplicate: true } });
      continue;
    }
    room.last_seq = entry.seq;
    if (entry.type === 'delete') erased = true;
    const added = touched.get(room);
    if (added) {
      added.entries.push(entry);
      added.amended ||= isAmendment(entry);
    } else touched.set(room, { entries: [entry], amended: isAmendment(entry) });
    outcomes.push({ ok: true, value: { entry, epoch: room.epoch, duplicate: false } });
  }
  const appended: BatchResult['appended'] = [];
  for (const [room, { entries, amended }] of touched) {
    s.setLastSeq.run(room.last_seq, room.name);
    appended.push({ state: toState(room), rewrites: room.rewrites, entries, amended });
  }
  return { outcomes, appended, erased };
}

/**
 * Whether `draft` is written without looking up its idempotency key first: a message that is not
 * a reply checks nothing and writes nothing before its row, so its row's insert can be the
 * check (writeEntry answers undefined when the key was taken). The others (amendments, replies)
 * check their target, and a retry must be answered as the original was even when its target has
 * gone since: they look the key up first.
 */
function writesOnce(draft: EntryDraft): boolean {
  return draft.type === 'message' && draft.replyTo === undefined;
}

/**
 * Writes one entry (the next seq of `room`), and for an amendment folds it into its target (and
 * erases, for a delete), for a reply sets its preview. Checks first and throws a SwitchboardError
 * (MESSAGE_NOT_FOUND, MESSAGE_DELETED, REACTION_LIMIT) before it writes anything. Undefined, and
 * nothing written, when the draft writesOnce and a row holds its idempotency key already.
 */
function writeEntry(s: Statements, room: RoomRow, draft: EntryDraft, clientId: string | undefined): Entry | undefined {
  const seq = room.last_seq + 1;
  const ts = Date.now();
  const targetOf = (t: number): MessageEntry => {
    const row = t < room.first_seq ? undefined : s.entryAt.get(room.name, t);
    return checkTarget(row ? toEntry(row) : undefined, t);
  };
  const row: EntryRow = {
    room: draft.room,
    seq,
    ts,
    type: draft.type,
    sender: JSON.stringify(draft.from),
    text: null,
    client_id: clientId ?? null,
    client_scope: clientId === undefined ? null : clientScope(draft.from),
    data: null,
    event: null,
    target: null,
    reply_to: null,
    extra: null,
    fold: null,
  };
  /** Writes the row; false when its idempotency key was taken (only a draft that writesOnce can find it so: the others looked it up). */
  const insert = (): boolean =>
    s.insertEntry.run(row.room, row.seq, row.ts, row.type, row.sender, row.text, row.client_id, row.client_scope, row.data, row.event, row.target, row.reply_to, row.extra, row.fold).changes > 0;
  if (draft.type === 'message') {
    row.text = draft.text;
    row.data = draft.data === undefined ? null : JSON.stringify(draft.data);
    row.event = draft.event ?? null;
    if (draft.replyTo !== undefined) {
      row.reply_to = draft.replyTo;
      row.extra = JSON.stringify({ reply: replyPreview(targetOf(draft.replyTo)) });
    }
    if (!insert()) return undefined;
    if (draft.text !== '') index(s, room.name, seq, draft.text);
    return entryOf(row, draft.from);
  }
  if (!isAmendment(draft)) {
    insert();
    return entryOf(row, draft.from);
  }
  const target = targetOf(draft.target);
  row.target = draft.target;
  let on = true;
  let reactions: ReactionSummary[] | undefined;
  if (draft.type === 'reaction') {
    const member = clientScope(draft.from);
    const reactors: Reactors = new Map();
    for (const r of s.reactorsOf.all(room.name, target.seq)) {
      const list = reactors.get(r.emoji);
      if (list) list.push({ member: r.member, name: r.name });
      else reactors.set(r.emoji, [{ member: r.member, name: r.name }]);
    }
    const had = reactors.get(draft.emoji)?.some((r) => r.member === member) ?? false;
    on = applyReaction(reactors, draft.emoji, member, draft.from.name, draft.on);
    if (on && !had) s.addReaction.run(room.name, target.seq, draft.emoji, member, draft.from.name);
    else if (!on && had) s.removeReaction.run(room.name, target.seq, draft.emoji, member);
    reactions = summarize(reactors);
    row.extra = JSON.stringify({ emoji: draft.emoji, on });
  } else if (draft.type === 'edit') row.text = draft.text;
  insert();
  const amendment = amendmentEntry(draft, seq, ts, on);
  const folded = foldMessage(target, amendment, reactions);
  // The search index follows the text by a trigger (migration 10): an edit indexes the new text, an erase removes it.
  if (draft.type === 'edit') s.setText.run(folded.text, foldColumn(folded), room.name, target.seq);
  else if (draft.type === 'reaction') s.setFold.run(foldColumn(folded), room.name, target.seq);
  else {
    // Erase: the message's payload, the text of its edits, the previews quoting it, its reactions, its index rows.
    s.eraseMessage.run(foldColumn(folded)!, room.name, target.seq);
    s.eraseEdits.run(room.name, target.seq);
    for (const reply of s.repliesTo.all(room.name, target.seq)) {
      const x = reply.extra === null ? undefined : (JSON.parse(reply.extra) as { reply?: ReplyPreview });
      if (x?.reply) s.setExtra.run(JSON.stringify({ reply: erasedPreview(x.reply) }), room.name, reply.seq);
    }
    s.removeReactions.run(room.name, target.seq);
  }
  return amendment;
}

/** Adds a message's text to the search index. */
function index(s: Statements, room: string, seq: number, text: string): void {
  const id = Number(s.addDoc.run(room, seq).lastInsertRowid);
  s.addIndexed.run(id, roomToken(room), text);
}

/** Removes the messages with seq in [from, to) from the search index (before their rows go). */
function unindexRange(s: Statements, room: string, from: number, to: number): void {
  for (const doc of s.indexedRange.all(room, from, to)) s.removeIndexed.run(doc.id, roomToken(room), doc.text ?? '');
  s.removeDocsRange.run(room, from, to);
}

/** Creates the room unless it exists or `maxRooms` are there already (ROOM_LIMIT). Runs inside the write lock. */
function createRoomInTx(s: Statements, name: string, maxRooms: number): { state: RoomState; created: boolean } {
  const existing = s.getRoom.get(name);
  if (existing) return { state: toState(existing), created: false };
  if (s.countRooms.get()!.value >= maxRooms) throw new SwitchboardError('ROOM_LIMIT');
  const epoch = newEpoch();
  s.insertRoom.run(name, epoch, Date.now());
  return { state: { name, epoch, lastSeq: 0, firstSeq: 1 }, created: true };
}

/** Removes what a room keeps besides its entries: search rows, reactions, read positions. */
function dropRoomData(s: Statements, room: string): void {
  unindexRange(s, room, 0, Number.MAX_SAFE_INTEGER);
  s.removeRoomReactions.run(room);
  s.removeRoomReads.run(room);
}

/**
 * Checkpoints the WAL into the database file and truncates it (so no erased text stays in the
 * WAL), retrying while another connection's reader holds it back, up to `timeoutMs`.
 */
function checkpoint(db: Database.Database, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    if (!result || result.busy === 0 || Date.now() >= deadline) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
  }
}

/** Runs `fn`, again after a short sleep while it fails with SQLITE_BUSY, for up to `timeoutMs`. */
function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      return fn();
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait); // opening is synchronous anyway
    }
  }
}
