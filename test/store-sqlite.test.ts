import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { Entry } from '../src/protocol/types.js';
import { MAX_DISCONNECTS_REMEMBERED } from '../src/server/broker/broker.js';
import { TICKET_MAX_AGE_MS } from '../src/server/session/presence-ticket.js';
import type { MessageStore } from '../src/server/store/message-store.js';
import { SqliteStore } from '../src/server/store/sqlite-store.js';
import { messageStoreContract } from './contract/message-store.contract.js';
import { nodeArgsFor, ROOT as repoRoot } from './fixtures/built.js';

/** node's arguments that run the appender fixture: built when current (fixtures/built.ts). */
const APPENDER = nodeArgsFor('test/fixtures/sqlite-appender.ts');

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'switchboard-sqlite-'));
}

async function open(dataDir: string): Promise<SqliteStore> {
  // A small trim batch makes every contract trim span several batches.
  const store = new SqliteStore({ dataDir, trimBatchSize: 7 });
  await store.init();
  return store;
}

async function readAll(store: MessageStore, room: string): Promise<Entry[]> {
  const all: Entry[] = [];
  for (;;) {
    const page = await store.readAfter(room, all.at(-1)?.seq ?? 0, 500);
    if (page.length === 0) return all;
    all.push(...page);
  }
}

/** Runs the appender fixture; `onLine` gets each acknowledged `[seq, clientId]`. */
function runAppender(args: string[], onLine: (seq: number, clientId: string) => void) {
  const child = spawn(process.execPath, [...APPENDER, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!; // A line without its newline was not fully printed: not counted.
    for (const line of lines) {
      const [seq, clientId] = line.split(' ');
      onLine(Number(seq), clientId!);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

messageStoreContract('sqlite', async () => {
  const dir = await tempDir();
  const stores: SqliteStore[] = [await open(dir)];
  return {
    store: stores[0]!,
    reopen: async () => {
      const store = await open(dir);
      stores.push(store);
      return store;
    },
    cleanup: async () => {
      for (const s of stores) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore', () => {
  it('creates its directory, uses WAL and records the schema version', async () => {
    const dir = await tempDir();
    try {
      const nested = join(dir, 'a', 'b');
      const store = new SqliteStore({ dataDir: nested, fileName: 'chat.db' });
      await store.init();
      await store.close();
      const db = new Database(join(nested, 'chat.db'), { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), 10);
      db.close();
      // Reopening an up-to-date file runs no migration (it would fail: the tables exist).
      const again = new SqliteStore({ dataDir: nested, fileName: 'chat.db' });
      await again.init();
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a data folder that cannot be made fails init at once, naming it (under /proc, where mkdir -p never returns on node 20; under a file)', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir, 'file'), '');
      const places = [join(dir, 'file', 'x', 'y')];
      if (existsSync('/proc/self')) places.push('/proc/nope', '/proc/nope/deeper');
      for (const dataDir of places) {
        const started = Date.now();
        await assert.rejects(new SqliteStore({ dataDir }).init(), (err: Error) => err.message.startsWith(`cannot create the data folder ${dataDir}: `) && !err.message.includes('\n'), dataDir);
        assert.ok(Date.now() - started < 2000, dataDir);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts the read positions of each room (MAX_READ_POSITIONS needs no count per mark-read): kept by triggers, and made by the migration from the rows there', async () => {
    const dir = await tempDir();
    try {
      let store = await open(dir);
      const counts = (): unknown[] => {
        const db = new Database(join(dir, 'switchboard.db'), { readonly: true });
        try {
          return db.prepare('SELECT room, value FROM read_counts ORDER BY room').all();
        } finally {
          db.close();
        }
      };
      try {
        for (const room of ['a', 'b']) {
          await store.createRoom(room);
          await store.append({ type: 'message', room, from: { id: 'c', name: 'c' }, text: 'x' });
        }
        for (const member of ['ann', 'bob', 'cy']) await store.setReadPosition('a', member, member, 1);
        await store.setReadPosition('a', 'ann', 'ann', 1);
        await store.setReadPosition('b', 'ann', 'ann', 1);
        assert.deepEqual(counts(), [{ room: 'a', value: 3 }, { room: 'b', value: 1 }]);
        await store.resetRoom('a');
        await store.deleteRoom('b');
        assert.deepEqual(counts(), []);
        await store.setReadPosition('a', 'dee', 'dee', 0);
        assert.deepEqual(counts(), [], 'a position of 0 is not stored');
        await store.append({ type: 'message', room: 'a', from: { id: 'c', name: 'c' }, text: 'x' });
        await store.setReadPosition('a', 'dee', 'dee', 1);
        await store.setReadPosition('a', 'eve', 'eve', 1);
      } finally {
        await store.close();
      }
      // A file of version 5, with its positions: the migration counts them.
      const v5 = new Database(join(dir, 'switchboard.db'));
      v5.exec('DROP TRIGGER read_positions_counted_on_insert; DROP TRIGGER read_positions_counted_on_delete; DROP TABLE read_counts; DROP TABLE secrets; DROP TABLE disconnects; DROP TRIGGER entries_rewritten; ALTER TABLE rooms DROP COLUMN rewrites; DROP TRIGGER entries_text_indexed;');
      v5.pragma('user_version = 5');
      v5.close();
      store = await open(dir);
      await store.close();
      assert.deepEqual(counts(), [{ room: 'a', value: 2 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('migrates a version 1 file: idempotency keys per sender, a room count, payload columns', async () => {
    const dir = await tempDir();
    try {
      // Version 1 as it shipped, with rows as that version wrote them.
      const v1 = new Database(join(dir, 'switchboard.db'));
      v1.exec(`
        CREATE TABLE rooms (name TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL, first_seq INTEGER NOT NULL, created_at INTEGER NOT NULL);
        CREATE TABLE entries (room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, type TEXT NOT NULL, sender TEXT NOT NULL, text TEXT, client_id TEXT, PRIMARY KEY (room, seq));
        CREATE UNIQUE INDEX entries_room_client_id ON entries (room, client_id) WHERE client_id IS NOT NULL;
        INSERT INTO rooms VALUES ('a', 'ep1', 3, 1, 0), ('b', 'ep2', 0, 1, 0);
      `);
      const insert = v1.prepare('INSERT INTO entries (room, seq, ts, type, sender, text, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)');
      insert.run('a', 1, 1, 'message', JSON.stringify({ id: 'conn-1', name: 'carol', member: 'carol', transport: 'websocket' }), 'hi', 'c1');
      insert.run('a', 2, 2, 'message', JSON.stringify({ id: 'http-9', name: 'anon', transport: 'http' }), 'yo', 'c2');
      insert.run('a', 3, 3, 'join', JSON.stringify({ id: 'conn-1', name: 'carol', member: 'carol' }), null, null);
      v1.pragma('user_version = 1');
      v1.close();

      const store = await open(dir);
      try {
        assert.equal(await store.countRooms(), 2);
        // Rows written before payloads (version 4) come back as they were: no data, no event.
        assert.deepEqual(await store.readAfter('a', 0, 3), [
          { type: 'message', room: 'a', seq: 1, ts: 1, from: { id: 'conn-1', name: 'carol', member: 'carol', transport: 'websocket' }, text: 'hi', clientId: 'c1' },
          { type: 'message', room: 'a', seq: 2, ts: 2, from: { id: 'http-9', name: 'anon', transport: 'http' }, text: 'yo', clientId: 'c2' },
          { type: 'join', room: 'a', seq: 3, ts: 3, from: { id: 'conn-1', name: 'carol', member: 'carol' } },
        ]);
        // Old keys still hold for their sender, and only for their sender.
        const retry = await store.append({ type: 'message', room: 'a', from: { id: 'conn-5', name: 'carol', member: 'carol' }, text: 'hi', clientId: 'c1' });
        assert.deepEqual([retry.duplicate, retry.entry.seq, retry.epoch], [true, 1, 'ep1']);
        const anonRetry = await store.append({ type: 'message', room: 'a', from: { id: 'http-9', name: 'anon' }, text: 'yo', clientId: 'c2' });
        assert.deepEqual([anonRetry.duplicate, anonRetry.entry.seq], [true, 2]);
        const other = await store.append({ type: 'message', room: 'a', from: { id: 'conn-6', name: 'mallory', member: 'mallory' }, text: 'me', clientId: 'c1' });
        assert.deepEqual([other.duplicate, other.entry.seq], [false, 4]);
        // The count came from the rooms that were there, and goes on from it.
        await assert.rejects(store.createRoom('c', 2), (err: unknown) => err instanceof SwitchboardError && err.code === 'ROOM_LIMIT');
        assert.equal((await store.createRoom('c', 3)).created, true);
        assert.equal(await store.deleteRoom('b'), true);
        assert.equal(await store.countRooms(), 2);
      } finally {
        await store.close();
      }
      const db = new Database(join(dir, 'switchboard.db'), { readonly: true });
      try {
        assert.equal(db.pragma('user_version', { simple: true }), 10);
        assert.deepEqual(db.prepare("SELECT seq, client_scope FROM entries WHERE room = 'a' ORDER BY seq").all(), [
          { seq: 1, client_scope: 'carol' },
          { seq: 2, client_scope: 'http-9' },
          { seq: 3, client_scope: null },
          { seq: 4, client_scope: 'mallory' },
        ]);
        assert.deepEqual(db.prepare("SELECT COUNT(*) AS n FROM entries WHERE data IS NOT NULL OR event IS NOT NULL").get(), { n: 0 });
        const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL").all();
        assert.deepEqual(indexes, [{ name: 'entries_room_client_key' }, { name: 'entries_target' }, { name: 'entries_reply_to' }]);
      } finally {
        db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a reader of a file another connection appends to (a worker of --workers) reads the new rows alone and answers from memory, never what was amended, trimmed or reset since', async () => {
    const dir = await tempDir();
    const writer = await open(dir);
    const reader = await open(dir);
    const from = { id: 'conn-1', name: 'alice' };
    const say = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await writer.append({ type: 'message', room: 'r', from, text: `m${i}` });
    };
    const seqsOf = (entries: Entry[] | undefined): number[] | undefined => entries?.map((e) => e.seq);
    try {
      await writer.createRoom('r');
      await say(10);
      assert.equal((await reader.getRoom('r'))!.lastSeq, 10);
      await say(5);
      // Before, every commit of the writer emptied the reader's cache: every poll behind the head was a query.
      const fresh = reader.readAfterNow!('r', 10, 10);
      assert.deepEqual(seqsOf(fresh), [11, 12, 13, 14, 15], 'what the other connection appended, read as the few new rows and held');
      assert.deepEqual(fresh, await writer.readAfter('r', 10, 10));
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', 12, 2)), [13, 14]);
      // An operator's UPDATE in the sqlite3 shell, nothing appended: seen at the next read too.
      // (Of a message's data: its text is in the search index, which an edit by hand leaves stale.)
      const shell = new Database(join(dir, 'switchboard.db'));
      shell.prepare('UPDATE entries SET data = \'{"by":"hand"}\' WHERE room = \'r\' AND seq = 13').run();
      shell.close();
      const byHand = reader.readAfterNow!('r', 12, 1) ?? (await reader.readAfter('r', 12, 1));
      assert.deepEqual(byHand[0]!.type === 'message' && byHand[0]!.data, { by: 'hand' });
      // An edit folds into message 12: the reader's copy of it goes.
      await writer.append({ type: 'edit', room: 'r', from, target: 12, text: 'edited' });
      const afterEdit = reader.readAfterNow!('r', 11, 1);
      if (afterEdit !== undefined) assert.deepEqual(afterEdit, await writer.readAfter('r', 11, 1));
      const edited = (await reader.readAfter('r', 11, 1))[0]!;
      assert.equal(edited.type === 'message' && edited.text, 'edited', 'the reader reads the edited text, not its copy');
      await say(3);
      assert.equal(reader.readAfterNow!('r', 12, 10), undefined, 'the tail starts again after an amendment');
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', 16, 10)), [17, 18, 19], 'and holds what follows it');
      assert.equal((await reader.getRoom('r'))!.lastSeq, 19);
      await say(2);
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', 19, 10)), [20, 21]);
      // A delete erases message 20's text in the file.
      await writer.append({ type: 'delete', room: 'r', from, target: 20 });
      const erased = (await reader.readAfter('r', 19, 1))[0]!;
      assert.ok(erased.type === 'message' && erased.deleted === true && erased.text === '', 'the erased text is not served from memory');
      // A trim by the writer: what it removed is not served either.
      await say(2);
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', 22, 10)), [23, 24]);
      await writer.trim({ maxEntries: 1, maxAgeMs: 365 * 24 * 3600 * 1000 }, Date.now());
      assert.equal((await reader.getRoom('r'))!.firstSeq, 24);
      assert.equal(reader.readAfterNow!('r', 22, 10), undefined, 'a position before the history kept');
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', 23, 10)), [24]);
      // More new rows than the tail holds (128): it starts again at the head (none of them read), and follows from there.
      await say(130);
      const head = (await writer.getRoom('r'))!.lastSeq;
      assert.equal(reader.readAfterNow!('r', head - 1, 10), undefined);
      await say(2);
      assert.deepEqual(seqsOf(reader.readAfterNow!('r', head, 10)), [head + 1, head + 2]);
      // A reset: a new epoch, nothing of the old history.
      const reset = await writer.resetRoom('r');
      assert.equal((await reader.getRoom('r'))!.epoch, reset.epoch);
      assert.deepEqual(await reader.readAfter('r', 0, 10), []);
      await say(1);
      assert.deepEqual(reader.readAfterNow!('r', 0, 10), await writer.readAfter('r', 0, 10));
      await writer.deleteRoom('r');
      assert.equal(await reader.getRoom('r'), undefined, 'a room the other connection deleted');
      assert.equal(reader.readAfterNow!('r', 0, 10), undefined);
    } finally {
      await reader.close();
      await writer.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('caps rooms atomically across processes sharing one file', async () => {
    const dir = await tempDir();
    try {
      // Three processes race to create 100 rooms each under a cap of 50, starting together.
      const startAt = Date.now() + 2000;
      const child = `
        import { SqliteStore } from ${JSON.stringify(pathToFileURL(join(repoRoot, 'src/server/store/sqlite-store.ts')).href)};
        const [dir, tag, startAt] = process.argv.slice(1);
        const store = new SqliteStore({ dataDir: dir, busyTimeoutMs: 20_000 });
        await store.init();
        await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()));
        let created = 0;
        for (let i = 0; i < 100; i++) {
          try {
            if ((await store.createRoom(tag + '-' + i, 50)).created) created++;
          } catch (err) {
            if (err.code !== 'ROOM_LIMIT') throw err;
          }
          // A pause lets the others take the write lock, so the processes' creations interleave.
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await store.close();
        process.stdout.write(String(created));
      `;
      const runs = ['a', 'b', 'c'].map((tag) => {
        const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child, dir, tag, String(startAt)], {
          cwd: repoRoot,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
        return new Promise<number>((resolve, reject) =>
          proc.on('exit', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`child ${tag} exited with ${code}: ${err}`)))),
        );
      });
      const created = await Promise.all(runs);
      assert.equal(created.reduce((a, b) => a + b, 0), 50, `created per process: ${created.join(', ')}`);
      const store = await open(dir);
      try {
        assert.equal(await store.countRooms(), 50);
        assert.equal((await store.listRooms({ limit: 500 })).rooms.length, 50);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it(`keeps the latest ${MAX_DISCONNECTS_REMEMBERED} disconnect orders: a write past the bound drops the oldest, an order older than every kept one is dropped at once, a replaced one drops none`, async () => {
    const dir = await tempDir();
    const store = await open(dir);
    try {
      const now = Date.now();
      const full = MAX_DISCONNECTS_REMEMBERED;
      // The table filled beside the store in one transaction: as many keepDisconnect calls would be as many synced commits (seconds).
      const db = new Database(store.path);
      const insert = db.prepare<[string, number]>("INSERT INTO disconnects (member, room, at) VALUES (?, '', ?)");
      db.transaction(() => {
        for (let i = 0; i < full; i++) insert.run(`m${i}`, now - full + i);
      })();
      db.close();
      const kept = async () => {
        const orders = await store.recentDisconnects(now - TICKET_MAX_AGE_MS);
        return { count: orders.length, first: orders[0], last: orders.at(-1) };
      };
      assert.deepEqual(await kept(), { count: full, first: { member: 'm0', at: now - full }, last: { member: `m${full - 1}`, at: now - 1 } });

      await store.keepDisconnect({ member: 'newest', room: 'hall', at: now });
      assert.deepEqual(await kept(), { count: full, first: { member: 'm1', at: now - full + 1 }, last: { member: 'newest', room: 'hall', at: now } }, 'the oldest dropped, the newest kept');

      await store.keepDisconnect({ member: 'late', at: now - full - 1 });
      assert.deepEqual(await kept(), { count: full, first: { member: 'm1', at: now - full + 1 }, last: { member: 'newest', room: 'hall', at: now } }, 'older than every kept order: past the bound itself');

      await store.keepDisconnect({ member: 'm1', at: now + 1 });
      assert.deepEqual(await kept(), { count: full, first: { member: 'm2', at: now - full + 2 }, last: { member: 'm1', at: now + 1 } }, 'a replaced order takes no other one with it');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file from a newer schema with STORE_UNAVAILABLE', async () => {
    const dir = await tempDir();
    try {
      const db = new Database(join(dir, 'switchboard.db'));
      db.pragma('user_version = 99');
      db.close();
      const store = new SqliteStore({ dataDir: dir });
      await assert.rejects(store.init(), (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
      assert.equal(await store.ping(), false);
      await assertUnavailable(store.getRoom('r'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('yields to the event loop between trim batches', async () => {
    const dir = await tempDir();
    const store = new SqliteStore({ dataDir: dir, trimBatchSize: 50 });
    try {
      await store.init();
      await store.createRoom('r');
      for (let i = 0; i < 400; i++) await store.append({ type: 'message', room: 'r', from: { id: 'a', name: 'a' }, text: `m${i}` });
      // setImmediate callbacks get to run while trim is pending only if it yields between batches.
      let turns = 0;
      let pending = true;
      const spy = (): void => {
        turns++;
        if (pending) setImmediate(spy);
      };
      setImmediate(spy);
      // The spy stops whatever trim does: a failing trim must fail the test, not spin it forever.
      const trimmed = store.trim({ maxEntries: 0, maxAgeMs: Infinity }, Date.now()).finally(() => (pending = false));
      assert.equal(await trimmed, 400);
      assert.ok(turns >= 8, `trim yielded ${turns} times for 8 batches`);
      assert.deepEqual(await store.getRoom('r').then((s) => [s!.firstSeq, s!.lastSeq]), [401, 400]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loses no acknowledged entry when the appending process is killed with SIGKILL', async () => {
    await survivesKill(['crash', '1000000', 'k'], 300);
  });

  it('assigns unique, gapless seqs to two processes appending to one file at once', async () => {
    await appendTogether(['a', 'b'], 150);
  });

  it('loses no acknowledged entry when killed with SIGKILL while group commits are in flight', async () => {
    await survivesKill(['crash', '1000000', 'k', '64'], 2000);
  });

  it('gives three processes with 32 appends in flight each unique, gapless seqs in shared group commits', async () => {
    await appendTogether(['a', 'b', 'c'], 1000, 32, (stderr) => {
      // Each process grouped its appends: far fewer commits than appends.
      const [, commits, appends] = /commits (\d+) appends (\d+)/.exec(stderr) ?? [];
      assert.equal(Number(appends), 1000, stderr);
      assert.ok(Number(commits) < 500, `${commits} commits for ${appends} appends`);
    });
  });
});

/**
 * Runs the appender (`args` after the data directory) and SIGKILLs it once `killAfter` appends
 * were acknowledged: the file then holds gapless seqs and every acknowledged entry.
 */
async function survivesKill(args: string[], killAfter: number): Promise<void> {
  const dir = await tempDir();
  try {
    const acked = new Map<number, string>();
    const { child, exited } = runAppender([dir, ...args], (seq, clientId) => {
      assert.equal(acked.has(seq), false, `seq ${seq} acknowledged twice`);
      acked.set(seq, clientId);
      if (acked.size === killAfter) child.kill('SIGKILL');
    });
    const { signal, stderr } = await exited;
    assert.equal(signal, 'SIGKILL', stderr);
    assert.ok(acked.size >= killAfter);
    const store = new SqliteStore({ dataDir: dir });
    await store.init();
    const entries = await readAll(store, 'crash');
    const state = await store.getRoom('crash');
    await store.close();
    assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: entries.length }, (_, i) => i + 1));
    assert.equal(state!.lastSeq, entries.length);
    const bySeq = new Map(entries.map((e) => [e.seq, e]));
    for (const [seq, clientId] of acked) {
      const e = bySeq.get(seq);
      assert.equal(e?.type === 'message' ? e.clientId : undefined, clientId, `acknowledged seq ${seq} is missing`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * One appender process per tag, `count` appends each (`inFlight` at once when given) to room
 * `shared` of one file: every seq from 1 is acknowledged exactly once and holds its own entry.
 */
async function appendTogether(tags: string[], count: number, inFlight?: number, checkRun?: (stderr: string) => void): Promise<void> {
  const dir = await tempDir();
  try {
    const acked = new Map<number, string>();
    const onLine = (seq: number, clientId: string): void => {
      assert.equal(acked.has(seq), false, `seq ${seq} acknowledged twice`);
      acked.set(seq, clientId);
    };
    const runs = tags.map((tag) => runAppender([dir, 'shared', String(count), tag, ...(inFlight === undefined ? [] : [String(inFlight)])], onLine));
    for (const run of runs) {
      const { code, stderr } = await run.exited;
      assert.equal(code, 0, stderr);
      checkRun?.(stderr);
    }
    const total = tags.length * count;
    assert.deepEqual([...acked.keys()].sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i + 1));
    const store = new SqliteStore({ dataDir: dir });
    await store.init();
    const entries = await readAll(store, 'shared');
    assert.equal((await store.getRoom('shared'))!.lastSeq, total);
    await store.close();
    assert.equal(entries.length, total);
    for (const e of entries) assert.equal(e.type === 'message' ? e.clientId : undefined, acked.get(e.seq));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function assertUnavailable(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
}
