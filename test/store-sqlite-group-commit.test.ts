import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { EntryDraft, Sender } from '../src/protocol/types.js';
import { SqliteStore, type SqliteStoreOptions } from '../src/server/store/sqlite-store.js';

const alice: Sender = { id: 'conn-1', name: 'alice' };
const bob: Sender = { id: 'conn-2', name: 'bob' };

function draft(room: string, text: string, clientId?: string, from: Sender = alice): EntryDraft {
  return clientId === undefined ? { type: 'message', room, from, text } : { type: 'message', room, from, text, clientId };
}

/** A store on a fresh file, and a second, plain connection to that file (another "process" as SQLite sees it). */
async function withStore(options: Partial<SqliteStoreOptions>, fn: (store: SqliteStore, other: Database.Database) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-group-'));
  const store = new SqliteStore({ dataDir, ...options });
  await store.init();
  const other = new Database(store.path);
  try {
    await fn(store, other);
  } finally {
    other.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function isCode(code: string): (err: unknown) => boolean {
  return (err: unknown) => err instanceof SwitchboardError && err.code === code;
}

const storedSeqs = (db: Database.Database, room: string): number[] =>
  db.prepare<[string], { seq: number }>('SELECT seq FROM entries WHERE room = ? ORDER BY seq').all(room).map((r) => r.seq);

describe('SqliteStore group commit', () => {
  it('commits appends of one turn together: 200 appends, one commit each 64, seqs 1..200 in call order', () =>
    withStore({ maxBatchSize: 64 }, async (store) => {
      await store.createRoom('r');
      const before = store.commitStats;
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(draft('r', `m${i}`))));
      const after = store.commitStats;
      assert.deepEqual(
        results.map((r) => r.entry.seq),
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(after.items - before.items, 200);
      // 64 + 64 + 64 run as soon as each is full, the last 8 on the next turn.
      assert.equal(after.commits - before.commits, 4);
      assert.equal(after.largestBatch, 64);
      assert.equal((await store.getRoom('r'))!.lastSeq, 200);
    }));

  it('commits appends that come one at a time one by one (nothing waits for company)', () =>
    withStore({}, async (store) => {
      await store.createRoom('r');
      const before = store.commitStats.commits;
      for (let i = 0; i < 5; i++) await store.append(draft('r', `m${i}`));
      assert.equal(store.commitStats.commits - before, 5);
    }));

  it('resolves an append only once its commit is visible to another connection', () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      const seen: number[][] = [];
      const appends = Array.from({ length: 20 }, (_, i) =>
        store.append(draft('r', `m${i}`)).then((r) => {
          seen.push(storedSeqs(other, 'r'));
          return r.entry.seq;
        }),
      );
      // Queued, not yet written: neither this store nor another connection reads them.
      assert.equal(store.commitStats.items, 0);
      assert.deepEqual(await store.readAfter('r', 0, 100), []);
      assert.equal((await store.getRoom('r'))!.lastSeq, 0);
      assert.deepEqual(storedSeqs(other, 'r'), []);
      const seqs = await Promise.all(appends);
      for (const [i, seq] of seqs.entries()) assert.ok(seen[i]!.includes(seq), `seq ${seq} resolved before another connection could read it`);
    }));

  it('keeps each append its own outcome in one batch: duplicates of the batch, another sender, an unknown room', () =>
    withStore({}, async (store) => {
      await store.createRoom('r');
      const outcomes = await Promise.allSettled([
        store.append(draft('r', 'first', 'c1')),
        store.append(draft('r', 'again', 'c1')), // same sender, same clientId, same batch: the first is returned
        store.append(draft('missing', 'lost')),
        store.append(draft('r', 'bob', 'c1', bob)), // another sender may use the same clientId
        store.append(draft('r', 'plain')),
      ]);
      assert.equal(store.commitStats.commits, 1);
      const [first, again, missing, fromBob, plain] = outcomes;
      assert.ok(first.status === 'fulfilled' && again.status === 'fulfilled' && fromBob.status === 'fulfilled' && plain.status === 'fulfilled');
      assert.deepEqual([first.value.entry.seq, first.value.duplicate], [1, false]);
      assert.deepEqual([again.value.entry.seq, again.value.duplicate], [1, true]);
      assert.equal(again.value.entry.type === 'message' && again.value.entry.text, 'first');
      assert.deepEqual([fromBob.value.entry.seq, fromBob.value.duplicate], [2, false]);
      assert.deepEqual([plain.value.entry.seq, plain.value.duplicate], [3, false]);
      assert.ok(missing.status === 'rejected' && isCode('ROOM_NOT_FOUND')(missing.reason));
      assert.deepEqual((await store.readAfter('r', 0, 10)).map((e) => e.seq), [1, 2, 3]);
      assert.equal((await store.getRoom('r'))!.lastSeq, 3);
    }));

  for (const raise of ['ABORT', 'ROLLBACK'] as const) {
    it(`rejects every append of a batch with STORE_UNAVAILABLE and stores none when a write fails mid-batch (RAISE(${raise}))`, () =>
      withStore({}, async (store, other) => {
        await store.createRoom('r');
        await store.createRoom('s');
        await store.append(draft('r', 'before'));
        // A real failure of SQLite in the middle of the batch, after earlier appends of it were written.
        other.exec(`CREATE TRIGGER fail BEFORE INSERT ON entries WHEN NEW.text = 'boom' BEGIN SELECT RAISE(${raise}, 'disk full'); END;`);
        const outcomes = await Promise.allSettled([
          store.append(draft('r', 'ok 1', 'k1')),
          store.append(draft('s', 'ok 2')),
          store.append(draft('r', 'boom')),
          store.append(draft('r', 'ok 3')),
        ]);
        for (const o of outcomes) assert.ok(o.status === 'rejected' && isCode('STORE_UNAVAILABLE')(o.reason), JSON.stringify(o));
        assert.deepEqual(storedSeqs(other, 'r'), [1]);
        assert.deepEqual(storedSeqs(other, 's'), []);
        assert.equal((await store.getRoom('r'))!.lastSeq, 1);
        assert.equal((await store.getRoom('s'))!.lastSeq, 0);
        // Nothing of the failed batch is left behind: its clientId is free, seqs go on from 1.
        other.exec('DROP TRIGGER fail');
        const retry = await store.append(draft('r', 'ok 1', 'k1'));
        assert.deepEqual([retry.entry.seq, retry.duplicate], [2, false]);
        assert.deepEqual(storedSeqs(other, 'r'), [1, 2]);
      }));
  }

  it('rejects a batch with STORE_UNAVAILABLE when another process holds the write lock past busyTimeoutMs, then goes on', () =>
    withStore({ busyTimeoutMs: 100 }, async (store, other) => {
      await store.createRoom('r');
      other.exec('BEGIN IMMEDIATE');
      const outcomes = await Promise.allSettled([store.append(draft('r', 'a')), store.append(draft('r', 'b'))]);
      other.exec('COMMIT');
      for (const o of outcomes) assert.ok(o.status === 'rejected' && isCode('STORE_UNAVAILABLE')(o.reason));
      assert.deepEqual(storedSeqs(other, 'r'), []);
      const next = await store.append(draft('r', 'c'));
      assert.equal(next.entry.seq, 1);
    }));

  it("waits for another process's write lock without blocking the event loop, acknowledges nothing meanwhile, and commits once it is free", () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      other.exec('BEGIN IMMEDIATE');
      let turns = 0;
      const ticker = setInterval(() => turns++, 1);
      let settled = 0;
      const first = store.append(draft('r', 'a')).finally(() => settled++);
      await new Promise((resolve) => setTimeout(resolve, 40));
      const second = store.append(draft('r', 'b')).finally(() => settled++);
      await new Promise((resolve) => setTimeout(resolve, 40));
      clearInterval(ticker);
      // SQLite's busy handler would have slept in this thread, which holds the other connection
      // too: the lock never freed, the appends failed after busyTimeoutMs (5 s).
      assert.ok(turns >= 10, `timers ran while the lock was held (${turns} in 80 ms)`);
      assert.equal(settled, 0, 'nothing acknowledged while nothing is stored');
      assert.deepEqual(storedSeqs(other, 'r'), []);
      other.exec('COMMIT');
      const [a, b] = await Promise.all([first, second]);
      assert.deepEqual([a.entry.seq, b.entry.seq], [1, 2]);
      assert.deepEqual(storedSeqs(other, 'r'), [1, 2]);
      assert.ok(store.commitStats.busyRetries > 0);
    }));

  it('trims without the write lock when no room has anything to trim, and takes it for a room that has', () =>
    withStore({ busyTimeoutMs: 100 }, async (store, other) => {
      for (const room of ['a', 'b', 'c']) {
        await store.createRoom(room);
        for (let i = 0; i < 3; i++) await store.append(draft(room, `m${i}`));
      }
      other.exec('BEGIN IMMEDIATE');
      try {
        // Every process of --workers runs this every 10 s: it took the lock once per room.
        assert.equal(await store.trim({ maxEntries: 3, maxAgeMs: Infinity }, Date.now()), 0);
        await assert.rejects(store.trim({ maxEntries: 2, maxAgeMs: Infinity }, Date.now()), isCode('STORE_UNAVAILABLE'));
      } finally {
        other.exec('COMMIT');
      }
      assert.equal(await store.trim({ maxEntries: 2, maxAgeMs: Infinity }, Date.now()), 3);
      assert.deepEqual(storedSeqs(other, 'b'), [2, 3]);
    }));

  it('sees what another process committed: seqs continue from its last_seq, never from a cached one', () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      await store.append(draft('r', 'ours'));
      // Another writer appends seqs 2 and 3 behind this store's back.
      other.exec(`INSERT INTO entries (room, seq, ts, type, sender, text) VALUES ('r', 2, 0, 'message', '{"id":"x","name":"x"}', 'theirs'), ('r', 3, 0, 'message', '{"id":"x","name":"x"}', 'theirs');
        UPDATE rooms SET last_seq = 3 WHERE name = 'r';`);
      assert.deepEqual((await store.readAfter('r', 1, 10)).map((e) => e.seq), [2, 3]);
      const results = await Promise.all([store.append(draft('r', 'a')), store.append(draft('r', 'b'))]);
      assert.deepEqual(results.map((r) => r.entry.seq), [4, 5]);
    }));

  it('runs queued appends before a reset, a delete or a creation, in call order', () =>
    withStore({}, async (store) => {
      await store.createRoom('r');
      const appended = store.append(draft('r', 'before the reset'));
      const reset = store.resetRoom('r');
      const [a, state] = await Promise.all([appended, reset]);
      assert.equal(a.entry.seq, 1);
      assert.notEqual(a.epoch, state.epoch);
      assert.deepEqual(await store.readAfter('r', 0, 10), []);
      const lost = store.append(draft('r', 'before the delete'));
      assert.equal(await store.deleteRoom('r'), true);
      assert.equal((await lost).entry.seq, 1);
      await assert.rejects(store.append(draft('r', 'after the delete')), isCode('ROOM_NOT_FOUND'));
    }));

  it('commits the appends still queued when closed, and refuses appends after', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-group-'));
    try {
      const store = new SqliteStore({ dataDir });
      await store.init();
      await store.createRoom('r');
      const pending = [store.append(draft('r', 'a')), store.append(draft('r', 'b'))];
      await store.close();
      assert.deepEqual((await Promise.all(pending)).map((r) => r.entry.seq), [1, 2]);
      await assert.rejects(store.append(draft('r', 'c')), isCode('STORE_UNAVAILABLE'));
      const again = new SqliteStore({ dataDir });
      await again.init();
      assert.equal((await again.getRoom('r'))!.lastSeq, 2);
      await again.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('SqliteStore read positions, committed in groups', () => {
  const storedReads = (db: Database.Database, room: string): Record<string, number> =>
    Object.fromEntries(db.prepare<[string], { member: string; seq: number }>('SELECT member, seq FROM read_positions WHERE room = ? ORDER BY member').all(room).map((r) => [r.member, r.seq]));
  const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('commits positions asked one by one, each in a turn of its own, together; each resolves once another connection sees it', () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(draft('r', `m${i}`))));
      const before = store.readCommitStats;
      const asked: Promise<{ seq: number; previous: number }>[] = [];
      const unseen: string[] = [];
      for (let i = 0; i < 20; i++) {
        const member = `member-${String(i).padStart(2, '0')}`;
        asked.push(
          store.setReadPosition('r', member, `M${i}`, 1 + (i % 5)).then((r) => {
            if (storedReads(other, 'r')[member] !== r.seq) unseen.push(member);
            return r;
          }),
        );
        await nextTurn();
      }
      const results = await Promise.all(asked);
      const after = store.readCommitStats;
      assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => ({ seq: 1 + (i % 5), previous: 0 })));
      assert.equal(after.items - before.items, 20);
      // Twenty turns take far less than the linger of the first: one commit, two on a slow machine.
      assert.ok(after.commits - before.commits <= 2, `${after.commits - before.commits} commits for 20 positions`);
      assert.deepEqual(unseen, [], 'resolved only once another connection sees it');
      assert.equal(Object.keys(storedReads(other, 'r')).length, 20);
      assert.equal(store.commitStats.items, 5, 'the appends group commit holds no read position');
    }));

  it("keeps each position its own outcome: a member's second of a batch sees its first, one never goes back, an unknown room fails alone, a seq past the end is clamped", () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      await Promise.all(Array.from({ length: 5 }, (_, i) => store.append(draft('r', `m${i}`))));
      const outcomes = await Promise.allSettled([
        store.setReadPosition('r', 'ann', 'Ann', 2),
        store.setReadPosition('r', 'ann', 'Ann', 4),
        store.setReadPosition('r', 'ann', 'Ann', 3),
        store.setReadPosition('nowhere', 'ann', 'Ann', 1),
        store.setReadPosition('r', 'bob', 'Bob', 99),
      ]);
      assert.deepEqual(outcomes.slice(0, 3).map((o) => (o.status === 'fulfilled' ? o.value : o.reason)), [{ seq: 2, previous: 0 }, { seq: 4, previous: 2 }, { seq: 4, previous: 4 }]);
      assert.ok(outcomes[3]!.status === 'rejected' && isCode('ROOM_NOT_FOUND')(outcomes[3]!.reason));
      assert.deepEqual(outcomes[4]!.status === 'fulfilled' && outcomes[4]!.value, { seq: 5, previous: 0 });
      assert.deepEqual(storedReads(other, 'r'), { ann: 4, bob: 5 });
      assert.equal(store.readCommitStats.commits, 1, 'one batch');
    }));

  it('answers a read of positions with those still queued; commits them before a reset or a delete, and on close', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-group-'));
    try {
      const store = new SqliteStore({ dataDir });
      await store.init();
      await store.createRoom('r');
      await store.createRoom('gone');
      await store.append(draft('r', 'a'));
      await store.append(draft('gone', 'a'));
      const marked = store.setReadPosition('r', 'ann', 'Ann', 1);
      assert.equal(await store.getReadPosition('r', 'ann'), 1);
      assert.deepEqual((await store.listReadPositions('r', 10)).map((p) => [p.member, p.seq]), [['ann', 1]]);
      assert.deepEqual(await marked, { seq: 1, previous: 0 });
      // Asked before the delete: stored before it (and gone with the room), not refused after it.
      const beforeDelete = store.setReadPosition('gone', 'ann', 'Ann', 1);
      assert.equal(await store.deleteRoom('gone'), true);
      assert.deepEqual(await beforeDelete, { seq: 1, previous: 0 });
      const queued = store.setReadPosition('r', 'bob', 'Bob', 1);
      await store.close();
      assert.deepEqual(await queued, { seq: 1, previous: 0 });
      await assert.rejects(store.setReadPosition('r', 'cleo', 'Cleo', 1), isCode('STORE_UNAVAILABLE'));
      const again = new SqliteStore({ dataDir });
      await again.init();
      assert.equal(await again.getReadPosition('r', 'bob'), 1);
      await again.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("waits for another process's write lock without blocking the event loop, and stores the positions once it is free", () =>
    withStore({}, async (store, other) => {
      await store.createRoom('r');
      await store.append(draft('r', 'a'));
      other.exec('BEGIN IMMEDIATE');
      let turns = 0;
      const ticker = setInterval(() => turns++, 1);
      let settled = 0;
      const marked = store.setReadPosition('r', 'ann', 'Ann', 1).finally(() => settled++);
      await new Promise((resolve) => setTimeout(resolve, 150));
      clearInterval(ticker);
      assert.ok(turns >= 20, `timers ran while the lock was held (${turns} in 150 ms)`);
      assert.equal(settled, 0, 'nothing answered while nothing is stored');
      other.exec('COMMIT');
      assert.deepEqual(await marked, { seq: 1, previous: 0 });
      assert.deepEqual(storedReads(other, 'r'), { ann: 1 });
      assert.ok(store.readCommitStats.busyRetries > 0);
    }));
});
