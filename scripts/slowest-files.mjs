// A reporter for node's test runner (scripts/run-tests.mjs uses it beside `spec`): at the end of
// the run it prints the test files whose tests took longest, and their sum, so that a CI log says
// where its minutes went. A file's time is the sum of its top-level tests and suites as its own
// process timed them (node 20 reports a file's events late while another file holds the output,
// so the time they arrive says little); the start of each process (tsx, imports) is not in it.
// SLOWEST_FILES=n prints n of them (default 15). TEST_DURATIONS_OUT=file also writes every file's
// seconds there as JSON, the order scripts/run-tests.mjs starts files in
// (`TEST_DURATIONS_OUT=scripts/test-durations.json npm test` refreshes the table).
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const SHOWN = Number(process.env.SLOWEST_FILES ?? 15);

export default async function* slowestFiles(source) {
  /** Milliseconds of each file's top-level tests. */
  const files = new Map();
  const began = Date.now();
  for await (const event of source) {
    // The run's summary (`tests 1123`, ..., `todo 0`, `duration_ms ...`): the table goes out at
    // its `todo` line, in one piece, since `--test-force-exit` ends the process before this
    // reporter sees more.
    if (event.type === 'test:diagnostic' && event.data.nesting === 0 && event.data.message.startsWith('todo ')) {
      yield table(files, began);
      continue;
    }
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0) continue;
    const { file, details } = event.data;
    if (typeof file !== 'string' || typeof details?.duration_ms !== 'number') continue;
    files.set(file, (files.get(file) ?? 0) + details.duration_ms);
  }
}

function table(files, began) {
  if (files.size < 2) return '';
  // A built file (`npm test`: dist/test/x.test.js) under its source's name.
  const rows = [...files].map(([file, ms]) => ({ file: path.relative(process.cwd(), file).replace(/^dist\/(.*)\.js$/, '$1.ts'), ms }));
  rows.sort((a, b) => b.ms - a.ms);
  if (process.env.TEST_DURATIONS_OUT) writeFileSync(process.env.TEST_DURATIONS_OUT, `${JSON.stringify(Object.fromEntries(rows.map((r) => [r.file, Math.round(r.ms / 100) / 10])), null, 1)}\n`);
  const sum = rows.reduce((total, r) => total + r.ms, 0);
  const seconds = (ms) => (ms / 1000).toFixed(1).padStart(7);
  const head = `\nslowest test files (of ${rows.length}; their tests took ${(sum / 1000).toFixed(0)} s in all, in ${((Date.now() - began) / 1000).toFixed(0)} s of wall time):\n`;
  return head + rows.slice(0, SHOWN).map((r) => `${seconds(r.ms)} s  ${r.file}\n`).join('');
}
