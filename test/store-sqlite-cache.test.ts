import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { Entry, EntryDraft } from '../src/protocol/types.js';
import { SqliteStore } from '../src/server/store/sqlite-store.js';

const draft = (room: string, text: string): EntryDraft => ({ type: 'message', room, from: { id: 'c', name: 'c' }, text });
const texts = (entries: Entry[]): string[] => entries.map((e) => (e.type === 'message' ? e.text : e.type));

/** Two stores on one file, as two processes would have: `a` reads (and caches), `b` writes behind its back. */
async function withTwo(fn: (a: SqliteStore, b: SqliteStore, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-cache-'));
  const a = new SqliteStore({ dataDir, cachedEntries: 4 });
  const b = new SqliteStore({ dataDir });
  await a.init();
  await b.init();
  try {
    await fn(a, b, dataDir);
  } finally {
    await a.close();
    await b.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe('SqliteStore read cache', () => {
  it('serves the head of a room from its own appends, and pages further back from the file', () =>
    withTwo(async (a) => {
      await a.createRoom('r');
      for (let i = 1; i <= 10; i++) await a.append(draft('r', `m${i}`));
      // Only the newest 4 are cached: reads across the boundary, or behind it, still get everything.
      assert.deepEqual(texts(await a.readAfter('r', 8, 10)), ['m9', 'm10']);
      assert.deepEqual(texts(await a.readAfter('r', 6, 2)), ['m7', 'm8']);
      assert.deepEqual(texts(await a.readAfter('r', 5, 10)), ['m6', 'm7', 'm8', 'm9', 'm10']);
      assert.deepEqual(texts(await a.readAfter('r', 0, 3)), ['m1', 'm2', 'm3']);
      assert.deepEqual(await a.readAfter('r', 10, 10), []);
      assert.deepEqual(await a.readAfter('r', 50, 10), []);
      assert.deepEqual(await a.readAfter('r', 7, 0), []);
      assert.equal((await a.getRoom('r'))!.lastSeq, 10);
    }));

  it("sees another process's appends, reset, trim and delete at the next read", () =>
    withTwo(async (a, b) => {
      await a.createRoom('r');
      await a.append(draft('r', 'a1'));
      await a.append(draft('r', 'a2'));
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['a1', 'a2']);
      const before = (await a.getRoom('r'))!;

      await b.append(draft('r', 'b3'));
      assert.equal((await a.getRoom('r'))!.lastSeq, 3);
      assert.deepEqual(texts(await a.readAfter('r', 2, 10)), ['b3']);
      // a appends again after b: its seq follows b's, and a reads both.
      assert.equal((await a.append(draft('r', 'a4'))).entry.seq, 4);
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['a1', 'a2', 'b3', 'a4']);

      await b.trim({ maxEntries: 1, maxAgeMs: Infinity }, Date.now());
      assert.deepEqual(await a.getRoom('r'), { ...before, lastSeq: 4, firstSeq: 4 });
      assert.deepEqual(texts(await a.readAfter('r', 2, 10)), ['a4']);

      const reset = await b.resetRoom('r');
      assert.deepEqual(await a.getRoom('r'), reset);
      assert.deepEqual(await a.readAfter('r', 3, 10), []);
      assert.equal((await a.append(draft('r', 'new'))).entry.seq, 1);

      assert.equal(await b.deleteRoom('r'), true);
      assert.equal(await a.getRoom('r'), undefined);
      await assert.rejects(a.readAfter('r', 1, 10), (err: unknown) => err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND');
    }));

  it('sees a change made with the sqlite3 shell (any other connection) at the next read', () =>
    withTwo(async (a, _b, dataDir) => {
      await a.createRoom('r');
      assert.deepEqual(await a.readAfter('r', 0, 10), []);
      await a.append(draft('r', 'x')); // cached as it commits
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['x']);
      const shell = new Database(join(dataDir, 'switchboard.db'));
      shell.prepare("UPDATE entries SET text = 'edited' WHERE room = 'r' AND seq = 1").run();
      shell.close();
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['edited']);
      // The search index followed (a trigger): the new text is found, the old one is not, and the
      // room can still be reset (removing the row from the index needs the text it was indexed with).
      assert.deepEqual(texts((await a.search('r', { words: ['edit'], limit: 10 })).results), ['edited']);
      assert.deepEqual((await a.search('r', { words: ['x'], limit: 10 })).results, []);
      await a.append(draft('r', 'y'));
      await a.resetRoom('r');
      assert.deepEqual(await a.readAfter('r', 0, 10), []);
    }));

  it('forgets what its own trim, reset and delete removed', () =>
    withTwo(async (a) => {
      await a.createRoom('r');
      for (let i = 1; i <= 3; i++) await a.append(draft('r', `m${i}`));
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['m1', 'm2', 'm3']);
      await a.trim({ maxEntries: 1, maxAgeMs: Infinity }, Date.now());
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['m3']);
      assert.equal((await a.getRoom('r'))!.firstSeq, 3);
      const reset = await a.resetRoom('r');
      assert.deepEqual(await a.getRoom('r'), reset);
      assert.deepEqual(await a.readAfter('r', 0, 10), []);
      await a.append(draft('r', 'after reset'));
      assert.deepEqual(texts(await a.readAfter('r', 0, 10)), ['after reset']);
      await a.deleteRoom('r');
      assert.equal(await a.getRoom('r'), undefined);
      await assert.rejects(a.readAfter('r', 0, 10), (err: unknown) => err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND');
    }));
});
