/**
 * `npx tsx bench/read-positions.ts [dist...]`: what members' read positions cost the SQLite
 * store, and the appends beside them. A room of 10 messages; for BENCH_SECONDS (4) each case
 * runs BENCH_APPENDERS (64, or 0) appends in flight in a loop, while BENCH_MARKS positions a
 * second (a list: `0,200,1000`) are asked one by one, spread over the second as members' clients
 * send theirs (each in a turn of its own), for 200 members in turn. Prints appends and positions
 * stored per second and how busy the event loop was (a sync holds it: the driver is synchronous).
 *
 * BENCH_SYNC_US=<µs>: every fsync and fdatasync sleeps that long first (bench/slow-sync/, built
 * with gcc and preloaded): a disk whose syncs take time, where this machine's acknowledges them
 * at once. Each argument is a built tree (`dist` by default; a copy of an older build's to compare):
 * the builds are measured in turn, case by case.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SYNC_US = process.env.BENCH_SYNC_US;
const here = path.dirname(fileURLToPath(import.meta.url));

// A slow disk is a preloaded library: this process again, with it.
if (SYNC_US && !process.env.LD_PRELOAD?.includes('slow-sync')) {
  const lib = path.join(mkdtempSync(path.join(tmpdir(), 'slow-sync-')), 'slow-sync.so');
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, path.join(here, 'slow-sync', 'slow-sync.c'), '-ldl']);
  } catch (err) {
    console.error(`BENCH_SYNC_US needs gcc to build bench/slow-sync/slow-sync.c (apt-get install gcc): ${(err as Error).message.split('\n')[0]}`);
    process.exit(2);
  }
  const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: lib, SLOW_SYNC_US: SYNC_US } });
  rmSync(path.dirname(lib), { recursive: true, force: true });
  process.exit(again.status ?? 1);
}

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const MARKS = (process.env.BENCH_MARKS ?? '0,200,1000').split(',').map(Number);
const APPENDERS = (process.env.BENCH_APPENDERS ?? '0,64').split(',').map(Number);
const MEMBERS = 200;
const builds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['dist'];

type Store = import('../src/server/store/sqlite-store.js').SqliteStore;

async function run(dist: string, appenders: number, marksPerSecond: number): Promise<string> {
  const { SqliteStore } = (await import(pathToFileURL(path.resolve(dist, 'src/server/store/sqlite-store.js')).href)) as typeof import('../src/server/store/sqlite-store.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'read-positions-'));
  const store: Store = new SqliteStore({ dataDir: dir });
  await store.init();
  await store.createRoom('r');
  const from = { id: 'u', name: 'U' };
  for (let i = 0; i < 10; i++) await store.append({ type: 'message', room: 'r', from, text: 'first' });
  let appended = 0;
  let marked = 0;
  let running = true;
  const appender = async (): Promise<void> => {
    while (running) {
      await store.append({ type: 'message', room: 'r', from, text: 'hello world' });
      appended++;
    }
  };
  const marker = async (): Promise<void> => {
    const start = performance.now();
    for (let i = 0; running && marksPerSecond > 0; i++) {
      const wait = start + (i * 1000) / marksPerSecond - performance.now();
      await new Promise((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
      void store.setReadPosition('r', `m${i % MEMBERS}`, 'M', 1 + (i % 10) + appended).then(() => marked++);
    }
  };
  const started = performance.now();
  const loop = performance.eventLoopUtilization();
  const loops = [...Array.from({ length: appenders }, appender), marker()];
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  running = false;
  await Promise.all(loops);
  const busy = performance.eventLoopUtilization(loop).utilization;
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return `appends ${String(Math.round(appended / seconds)).padStart(6)}/s   positions ${String(Math.round(marked / seconds)).padStart(5)}/s of ${String(marksPerSecond).padStart(4)}   event loop busy ${(busy * 100).toFixed(0).padStart(3)}%`;
}

console.log(`Read positions beside appends, SQLite store, ${SECONDS} s a case${SYNC_US ? `, a sync takes ${SYNC_US} µs more (bench/slow-sync)` : ''}`);
for (const appenders of APPENDERS) {
  for (const marks of MARKS) {
    if (appenders === 0 && marks === 0) continue;
    for (const dist of builds) console.log(`  ${String(appenders).padStart(2)} appends in flight, ${String(marks).padStart(4)} positions/s  ${dist.padEnd(24)} ${await run(dist, appenders, marks)}`);
  }
}
