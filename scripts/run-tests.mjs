#!/usr/bin/env node
// Runs every test file (test/**/*.test.ts) with node's test runner, TypeScript through tsx.
// Usage: node scripts/run-tests.mjs [--built] [filter]   (filter: a substring of the file paths to run)
// --built (`npm test`, which builds first): each file's build, dist/test/**/*.test.js, instead.
// A file started through tsx spent some 0.8 s of CPU more on transforming what it imports
// (test/room-channel.test.ts: 1.8-1.9 CPU-s against 0.9-1.2 built), over some 126 files.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const built = args.includes('--built');
const rest = args.filter((a) => a !== '--built');
if (rest.length > 1 || rest.some((a) => a.startsWith('--'))) {
  console.error(`usage: node scripts/run-tests.mjs [--built] [filter]; got ${rest.join(' ')}`);
  process.exit(2);
}
const filter = rest[0] ?? '';
// Files start longest first, a few at a time (the scheduling that ends soonest: a long file started
// last would run on alone at the end; workers.test.ts, some 60 s, started among the last when
// files went in the alphabet's order after the browser's). Their lengths are those of an earlier
// run, in test-durations.json (TEST_DURATIONS_OUT, see slowest-files.mjs). A file not in it (a new
// one, or one whose tests are all written in a shared suite: the runner times them under the
// suite's file, test/contract/*.ts) counts as a file of middling length.
const NOT_TIMED_S = 10;
let durations = {};
try {
  durations = JSON.parse(readFileSync(fileURLToPath(new URL('./test-durations.json', import.meta.url)), 'utf8'));
} catch {
  // No table: every file as long as the others, in the alphabet's order.
}
const secondsOf = (f) => durations[f.split(path.sep).join('/')] ?? NOT_TIMED_S;
const files = readdirSync('test', { recursive: true })
  .map((f) => path.join('test', String(f)))
  .filter((f) => f.endsWith('.test.ts') && f.includes(filter))
  .sort((a, b) => secondsOf(b) - secondsOf(a) || (a < b ? -1 : a > b ? 1 : 0));
/** What node runs for a test file: its build with --built (dist/ mirrors the tree; tsc writes every file it compiles). */
const runnable = (f) => (built ? path.join('dist', f.replace(/\.ts$/, '.js')) : f);
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filter)}`);
  process.exit(1);
}
// A test file that hangs fails after 10 minutes (node's timeout holds for a file as for each test
// in it; the slowest file, the app's chat in Chromium, takes about 3) instead of holding CI until
// its own limit, and a file whose tests are done exits even when something it started still runs
// (a test that failed half-way and left a loop or a socket behind).
// Three files at a time (TEST_CONCURRENCY=n for n): most of a file's time is waiting (Chromium,
// timers, other processes), and three took 658-725 s against 759-803 s with two on 2 cores
// (2026-12-06). Two runs of three failed, each a test that waited a fixed time (a presence notice
// after 20 ms; a Redis Cluster replica's confirmation within 300 ms, which failed with two as well):
// both now wait for the thing itself. After the spec reporter's lines, the slowest files
// (scripts/slowest-files.mjs).
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 3);
const slowest = fileURLToPath(new URL('./slowest-files.mjs', import.meta.url));
const result = spawnSync(
  process.execPath,
  [...(built ? ['--enable-source-maps'] : ['--import', 'tsx']), '--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', '--test-force-exit', '--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${slowest}`, '--test-reporter-destination=stdout', ...files.map(runnable)],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
