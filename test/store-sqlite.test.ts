import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../src/protocol/errors.js';
import type { Entry } from '../src/protocol/types.js';
import type { MessageStore } from '../src/server/store/message-store.js';
import { SqliteStore } from '../src/server/store/sqlite-store.js';
import { messageStoreContract } from './contract/message-store.contract.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const appender = fileURLToPath(new URL('./fixtures/sqlite-appender.ts', import.meta.url));

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
  const child = spawn(process.execPath, ['--import', 'tsx', appender, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
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
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      db.close();
      // Reopening an up-to-date file runs no migration (it would fail: the tables exist).
      const again = new SqliteStore({ dataDir: nested, fileName: 'chat.db' });
      await again.init();
      await again.close();
    } finally {
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
      const trimmed = store.trim({ maxEntries: 0, maxAgeMs: Infinity }, Date.now());
      assert.equal(await trimmed, 400);
      pending = false;
      assert.ok(turns >= 8, `trim yielded ${turns} times for 8 batches`);
      assert.deepEqual(await store.getRoom('r').then((s) => [s!.firstSeq, s!.lastSeq]), [401, 400]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('loses no acknowledged entry when the appending process is killed with SIGKILL', async () => {
    const dir = await tempDir();
    try {
      const acked = new Map<number, string>();
      const { child, exited } = runAppender([dir, 'crash', '1000000', 'k'], (seq, clientId) => {
        acked.set(seq, clientId);
        if (acked.size === 300) child.kill('SIGKILL');
      });
      const { signal, stderr } = await exited;
      assert.equal(signal, 'SIGKILL', stderr);
      assert.ok(acked.size >= 300);
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      const entries = await readAll(store, 'crash');
      const state = await store.getRoom('crash');
      await store.close();
      assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: entries.length }, (_, i) => i + 1));
      assert.equal(state!.lastSeq, entries.length);
      const bySeq = new Map(entries.map((e) => [e.seq, e]));
      for (const [seq, clientId] of acked) assert.equal(bySeq.get(seq)?.clientId, clientId, `acknowledged seq ${seq} is missing`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('assigns unique, gapless seqs to two processes appending to one file at once', async () => {
    const dir = await tempDir();
    try {
      const acked = new Map<number, string>();
      const onLine = (seq: number, clientId: string): void => {
        assert.equal(acked.has(seq), false, `seq ${seq} acknowledged twice`);
        acked.set(seq, clientId);
      };
      const runs = [runAppender([dir, 'shared', '150', 'a'], onLine), runAppender([dir, 'shared', '150', 'b'], onLine)];
      for (const run of runs) {
        const { code, stderr } = await run.exited;
        assert.equal(code, 0, stderr);
      }
      assert.deepEqual([...acked.keys()].sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i + 1));
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      const entries = await readAll(store, 'shared');
      await store.close();
      assert.equal(entries.length, 300);
      for (const e of entries) assert.equal(e.clientId, acked.get(e.seq));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function assertUnavailable(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => err instanceof SwitchboardError && err.code === 'STORE_UNAVAILABLE');
}
