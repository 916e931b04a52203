import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, EntryType, JsonValue, MessageEntry, Sender } from '../../protocol/types.js';
import { GroupCommit, type GroupCommitStats } from './group-commit.js';
import { RoomTailCache } from './room-tail-cache.js';
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

/** One append's outcome inside a batch: its result, or the error it alone fails with. */
type AppendOutcome = { ok: true; value: AppendResult } | { ok: false; error: unknown };

/** What a batch of appends did: each append's outcome, and each room's new entries with its state after them. */
interface BatchResult {
  outcomes: AppendOutcome[];
  appended: { state: RoomState; entries: Entry[] }[];
}

/** The write transactions, each run with BEGIN IMMEDIATE (see open()). */
interface Transactions {
  appendBatch(drafts: readonly EntryDraft[]): BatchResult;
  trimBatch(room: string, maxEntries: number, cutoff: number): { removed: number; more: boolean };
  createRoom(room: string, maxRooms: number): { state: RoomState; created: boolean };
  deleteRoom(room: string): boolean;
  resetRoom(room: string): RoomState;
}

function prepare(db: Database.Database) {
  return {
    ping: db.prepare('SELECT 1'),
    // Changes whenever another connection (this process or another) commits; our own commits leave it.
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
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
  if (row.type === 'join' || row.type === 'leave') return { type: row.type, ...base };
  if (row.type !== 'message') throw new Error(`${row.type} entries are not read yet`);
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
 * waiting up to `busyTimeoutMs` for it (blocking this process's event loop meanwhile: the
 * driver is synchronous), and reads each room's last_seq inside it, so seqs are gapless and
 * unique across processes: no write decides from a cached state. Every read sees what any
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
  private readonly cache: RoomTailCache;
  /** data_version when the cache was last known to be up to date. */
  private cacheVersion = -1;

  constructor(options: SqliteStoreOptions) {
    this.dataDir = options.dataDir;
    this.path = join(options.dataDir, options.fileName ?? 'switchboard.db');
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.maxBatchSize = options.maxBatchSize ?? 512;
    this.maxWaitMs = options.maxWaitMs ?? 10;
    this.cache = new RoomTailCache(options.cachedRooms ?? 256, options.cachedEntries ?? 128);
  }

  /** Group commits run since init (batches, appends they held, the largest): for tests and benchmarks. */
  get commitStats(): GroupCommitStats {
    return this.appends?.stats() ?? { commits: 0, items: 0, largestBatch: 0 };
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
      this.cache.setState(state);
      return state;
    });
  }

  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    this.appends?.flush();
    this.cache.delete(room);
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
    this.appends?.flush();
    try {
      return this.guard(() => this.tx().deleteRoom(room));
    } finally {
      this.cache.delete(room);
    }
  }

  /** One transaction, however many entries the room has: the event loop waits while it runs. */
  async resetRoom(room: string): Promise<RoomState> {
    this.appends?.flush();
    try {
      return this.guard(() => this.tx().resetRoom(room));
    } finally {
      this.cache.delete(room);
    }
  }

  /** Queued for the next group commit; resolves after the commit that holds it (see the class). */
  append(draft: EntryDraft): Promise<AppendResult> {
    if (!this.appends) return Promise.reject(new SwitchboardError('STORE_UNAVAILABLE', 'the SQLite store is not open'));
    return this.appends.submit(draft);
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      const cached = this.cached(room);
      if (cached && after >= cached.tailFrom) {
        // The tail holds every entry after tailFrom, contiguous: entry seq s sits at s - tailFrom - 1.
        const start = after - cached.tailFrom;
        return limit > 0 ? cached.tail.slice(start, start + limit) : [];
      }
      const rows = limit > 0 ? this.s().readAfter.all(room, after, limit) : [];
      // Entries go with their room (deleteRoom removes both at once), so rows prove it exists:
      // only an empty page needs a second statement.
      if (rows.length === 0) this.mustExist(room);
      return rows.map(toEntry);
    });
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    return this.guard(() => {
      const rows = limit > 0 ? this.s().readBefore.all(room, before ?? Number.MAX_SAFE_INTEGER, limit) : [];
      if (rows.length === 0) this.mustExist(room);
      return rows.map(toEntry).reverse();
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
        if (batch.removed > 0) this.cache.delete(name);
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

  /** Commits the appends still queued (they resolve or reject as usual), then closes the file. */
  async close(): Promise<void> {
    this.appends?.flush();
    this.appends = undefined;
    this.cache.clear();
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
        appendBatch: immediate((drafts: readonly EntryDraft[]) => appendBatchInTx(stmts, drafts)),
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
      const txs = this.txs;
      const runBatch = (drafts: readonly EntryDraft[]): AppendOutcome[] => {
        const { outcomes, appended } = txs.appendBatch(drafts);
        // Committed: only now may reads see these entries.
        for (const { state, entries } of appended) this.cache.appended(state, entries);
        return outcomes;
      };
      this.appends = new GroupCommit(runBatch, toStoreError, { maxBatchSize: this.maxBatchSize, maxWaitMs: this.maxWaitMs });
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
   * The room from the cache, after forgetting everything when another connection committed since
   * the last look: a read never answers from older data than the file holds when it starts.
   */
  private cached(room: string): ReturnType<RoomTailCache['get']> {
    const version = this.s().dataVersion.get()!;
    if (version !== this.cacheVersion) {
      this.cache.clear();
      this.cacheVersion = version;
      return undefined;
    }
    return this.cache.get(room);
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
function appendBatchInTx(s: Statements, drafts: readonly EntryDraft[]): BatchResult {
  const rooms = new Map<string, RoomRow | undefined>();
  const touched = new Map<RoomRow, Entry[]>();
  const outcomes: AppendOutcome[] = [];
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
    const message = draft.type === 'message' ? draft : undefined;
    const clientId = message?.clientId;
    if (clientId !== undefined) {
      // Sees the rows this batch wrote already: a duplicate within the batch returns the first.
      const original = s.byClientKey.get(draft.room, clientScope(draft.from), clientId);
      if (original) {
        outcomes.push({ ok: true, value: { entry: toEntry(original), epoch: room.epoch, duplicate: true } });
        continue;
      }
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
    room.last_seq = row.seq;
    // Built from the stored row, so the ack and later reads have exactly the same shape.
    const entry = toEntry(row);
    const added = touched.get(room);
    if (added) added.push(entry);
    else touched.set(room, [entry]);
    outcomes.push({ ok: true, value: { entry, epoch: room.epoch, duplicate: false } });
  }
  const appended: BatchResult['appended'] = [];
  for (const [room, entries] of touched) {
    s.setLastSeq.run(room.last_seq, room.name);
    appended.push({ state: toState(room), entries });
  }
  return { outcomes, appended };
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
