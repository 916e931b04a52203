import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, EntryType, JsonValue, MessageEntry, Sender } from '../../protocol/types.js';
import { clientScope, newEpoch, type AppendResult, type MessageStore, type Retention, type RoomPage, type RoomPageRequest, type RoomState } from './message-store.js';

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
];

interface RoomRow {
  name: string;
  epoch: string;
  last_seq: number;
  first_seq: number;
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
}

type Statements = ReturnType<typeof prepare>;

/** The write transactions, each run with BEGIN IMMEDIATE (see open()). */
interface Transactions {
  append(draft: EntryDraft): AppendResult;
  trimBatch(room: string, maxEntries: number, cutoff: number): { removed: number; more: boolean };
  createRoom(room: string, maxRooms: number): { state: RoomState; created: boolean };
  deleteRoom(room: string): boolean;
  resetRoom(room: string): RoomState;
}

function prepare(db: Database.Database) {
  return {
    ping: db.prepare('SELECT 1'),
    getRoom: db.prepare<[string], RoomRow>('SELECT name, epoch, last_seq, first_seq FROM rooms WHERE name = ?'),
    // The primary key's index gives the order: a page costs O(log rooms + limit).
    listRooms: db.prepare<[string, number], RoomRow>('SELECT name, epoch, last_seq, first_seq FROM rooms WHERE name > ? ORDER BY name LIMIT ?'),
    countRooms: db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'rooms'"),
    insertRoom: db.prepare<[string, string, number]>('INSERT INTO rooms (name, epoch, last_seq, first_seq, created_at) VALUES (?, ?, 0, 1, ?)'),
    deleteRoom: db.prepare<[string]>('DELETE FROM rooms WHERE name = ?'),
    restartRoom: db.prepare<[string, string]>('UPDATE rooms SET epoch = ?, last_seq = 0, first_seq = 1 WHERE name = ?'),
    setLastSeq: db.prepare<[number, string]>('UPDATE rooms SET last_seq = ? WHERE name = ?'),
    setFirstSeq: db.prepare<[number, string]>('UPDATE rooms SET first_seq = ? WHERE name = ?'),
    byClientKey: db.prepare<[string, string, string], EntryRow>('SELECT * FROM entries WHERE room = ? AND client_scope = ? AND client_id = ?'),
    insertEntry: db.prepare<[string, number, number, string, string, string | null, string | null, string | null, string | null, string | null]>(
      'INSERT INTO entries (room, seq, ts, type, sender, text, client_id, client_scope, data, event) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteEntries: db.prepare<[string]>('DELETE FROM entries WHERE room = ?'),
    readAfter: db.prepare<[string, number, number], EntryRow>('SELECT * FROM entries WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?'),
    readBefore: db.prepare<[string, number, number], EntryRow>('SELECT * FROM entries WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
    firstYoung: db.prepare<[string, number, number, number], { seq: number }>(
      'SELECT seq FROM entries WHERE room = ? AND seq BETWEEN ? AND ? AND ts >= ? ORDER BY seq LIMIT 1',
    ),
    deleteBelow: db.prepare<[string, number, number]>('DELETE FROM entries WHERE room = ? AND seq >= ? AND seq < ?'),
  };
}

/** Entries come back in the memory store's shape: optional keys are absent, never null. */
function toEntry(row: EntryRow): Entry {
  const base = { room: row.room, seq: row.seq, ts: row.ts, from: JSON.parse(row.sender) as Sender };
  if (row.type !== 'message') return { type: row.type, ...base };
  const entry: MessageEntry = { type: 'message', ...base, text: row.text ?? '' };
  if (row.data !== null) entry.data = JSON.parse(row.data) as JsonValue;
  if (row.event !== null) entry.event = row.event;
  if (row.client_id !== null) entry.clientId = row.client_id;
  return entry;
}

function toState(row: RoomRow): RoomState {
  return { name: row.name, epoch: row.epoch, lastSeq: row.last_seq, firstSeq: row.first_seq };
}

/** Infinity (no bound) as a number SQLite compares correctly. */
function bound(n: number): number {
  return Number.isFinite(n) ? Math.floor(n) : Number.MAX_SAFE_INTEGER;
}

/**
 * The durable single-node store (`--store sqlite`): one SQLite file in WAL mode.
 *
 * An append resolves only after its transaction committed with `synchronous = FULL`, so an
 * acknowledged entry survives a crash of the process (kill -9), of the OS, or a power loss.
 * Several processes may share the file: appends take the write lock up front (BEGIN IMMEDIATE)
 * and wait up to `busyTimeoutMs` for it (blocking this process's event loop meanwhile: the
 * driver is synchronous), then fail with STORE_UNAVAILABLE.
 *
 * better-sqlite3 is synchronous: each call blocks the event loop for one short statement;
 * `trim` works in batches of `trimBatchSize` rows and yields between them.
 */
export class SqliteStore implements MessageStore {
  readonly kind = 'sqlite';
  /** The database file. */
  readonly path: string;
  private readonly dataDir: string;
  private readonly trimBatchSize: number;
  private readonly busyTimeoutMs: number;
  private db: Database.Database | undefined;
  private stmts: Statements | undefined;
  private txs: Transactions | undefined;

  constructor(options: SqliteStoreOptions) {
    this.dataDir = options.dataDir;
    this.path = join(options.dataDir, options.fileName ?? 'switchboard.db');
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
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

  async getRoom(room: string): Promise<RoomState | undefined> {
    return this.guard(() => {
      const row = this.s().getRoom.get(room);
      return row ? toState(row) : undefined;
    });
  }

  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    return this.guard(() => this.tx().createRoom(room, maxRooms));
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
    return this.guard(() => this.tx().deleteRoom(room));
  }

  /** One transaction, however many entries the room has: the event loop waits while it runs. */
  async resetRoom(room: string): Promise<RoomState> {
    return this.guard(() => this.tx().resetRoom(room));
  }

  async append(draft: EntryDraft): Promise<AppendResult> {
    return this.guard(() => this.tx().append(draft));
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      this.mustExist(room);
      if (limit <= 0) return [];
      return this.s().readAfter.all(room, after, limit).map(toEntry);
    });
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      this.mustExist(room);
      if (limit <= 0) return [];
      return this.s().readBefore.all(room, before ?? Number.MAX_SAFE_INTEGER, limit).map(toEntry).reverse();
    });
  }

  async trim(retention: Retention, now: number): Promise<number> {
    const maxEntries = Math.max(0, bound(retention.maxEntries));
    const cutoff = Number.isFinite(retention.maxAgeMs) ? now - retention.maxAgeMs : -Number.MAX_SAFE_INTEGER;
    const rooms: RoomState[] = [];
    for (let page = await this.listRooms({ limit: 1000 }); ; page = await this.listRooms({ after: page.next, limit: 1000 })) {
      rooms.push(...page.rooms);
      if (page.next === undefined) break;
    }
    let removed = 0;
    for (const { name } of rooms) {
      for (;;) {
        const batch = this.guard(() => this.tx().trimBatch(name, maxEntries, cutoff));
        removed += batch.removed;
        // Yield between statements so a big backlog never stalls the event loop.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!batch.more) break;
      }
    }
    return removed;
  }

  async ping(): Promise<boolean> {
    try {
      this.s().ping.get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = undefined;
    this.stmts = undefined;
    this.txs = undefined;
  }

  private open(): void {
    this.guard(() => {
      mkdirSync(this.dataDir, { recursive: true });
      const db = new Database(this.path, { timeout: this.busyTimeoutMs });
      this.db = db;
      // Switching a new file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once
      // (no busy handler) while another process does the same: retry for up to busyTimeoutMs.
      retryWhileBusy(() => db.pragma('journal_mode = WAL'), this.busyTimeoutMs);
      // In WAL mode NORMAL already survives kill -9 (a commit is in the OS's page cache once
      // write() returns), but not an OS crash or power loss. FULL fsyncs the WAL at every commit,
      // so "acknowledged" means "on disk" whatever dies: the price is one fsync per append.
      db.pragma('synchronous = FULL');
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
        append: immediate((draft: EntryDraft) => this.appendInTx(stmts, draft)),
        trimBatch: immediate((room: string, maxEntries: number, cutoff: number) => this.trimBatchInTx(stmts, room, maxEntries, cutoff)),
        createRoom: immediate((room: string, maxRooms: number) => createRoomInTx(stmts, room, maxRooms)),
        deleteRoom: immediate((room: string) => {
          stmts.deleteEntries.run(room);
          return stmts.deleteRoom.run(room).changes === 1;
        }),
        resetRoom: immediate((room: string) => {
          if (!stmts.getRoom.get(room)) throw new SwitchboardError('ROOM_NOT_FOUND', room);
          const epoch = newEpoch();
          stmts.deleteEntries.run(room);
          stmts.restartRoom.run(epoch, room);
          return { name: room, epoch, lastSeq: 0, firstSeq: 1 };
        }),
      };
      this.stmts = stmts;
    });
  }

  private appendInTx(s: Statements, draft: EntryDraft): AppendResult {
    const room = s.getRoom.get(draft.room);
    if (!room) throw new SwitchboardError('ROOM_NOT_FOUND', draft.room);
    const message = draft.type === 'message' ? draft : undefined;
    const clientId = message?.clientId;
    if (clientId !== undefined) {
      const original = s.byClientKey.get(draft.room, clientScope(draft.from), clientId);
      if (original) return { entry: toEntry(original), epoch: room.epoch, duplicate: true };
    }
    const row: EntryRow = {
      room: draft.room,
      seq: room.last_seq + 1,
      ts: Date.now(),
      type: draft.type,
      sender: JSON.stringify(draft.from),
      text: message?.text ?? null,
      client_id: clientId ?? null,
      client_scope: clientId === undefined ? null : clientScope(draft.from),
      data: message?.data === undefined ? null : JSON.stringify(message.data),
      event: message?.event ?? null,
    };
    s.insertEntry.run(row.room, row.seq, row.ts, row.type, row.sender, row.text, row.client_id, row.client_scope, row.data, row.event);
    s.setLastSeq.run(row.seq, row.room);
    // Built from the stored row, so the ack and later reads have exactly the same shape.
    return { entry: toEntry(row), epoch: room.epoch, duplicate: false };
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
      if (err instanceof SwitchboardError) throw err;
      throw new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }
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
