/**
 * Every code block of README.md and docs/*.md runs as written, or says why it cannot.
 *
 * Each fenced block is preceded (blank lines aside) by a marker, an HTML comment that does not
 * show on GitHub:
 *
 *   <!-- example: run -->                     run it; it must exit 0
 *   <!-- example: run expect="re" ... -->     ... and its output (stdout) must match each pattern
 *   <!-- example: run server="--flags" -->    against a server started with these flags too
 *   <!-- example: run env="A=b C=d" -->       with these environment variables
 *   <!-- example: run continues -->           after the `run` example before it, in one script
 *   <!-- example: input -->                   the text typed into the shell example before it
 *   <!-- example: browser expect="re" -->     run in Chromium: test/e2e/docs-examples.test.ts
 *   <!-- example: none: why -->               cannot run (a config file, a shape, a fragment)
 *
 * A block without a marker fails this test: a new example is either run or marked `none`.
 *
 * How they run, on loopback only, against `switchboard serve` of the built package (memory
 * store, a free port; one server per file and flag set):
 * - `sh`/`bash`: a bash script (`set -eo pipefail`) in a temp directory, `localhost:3000` (and
 *   `localhost 3000`) rewritten to the test server, `SWITCHBOARD_URL` pointing at it, and
 *   `npx switchboard` mapped to `node dist/src/cli/index.js` (built by `npm test`). `curl` gets
 *   `--fail-with-body`, so an HTTP error fails the example. What a reader ends with Ctrl-C is
 *   ended after STREAM_SECONDS, and that counts as success: `curl -N` streams, `switchboard tail`
 *   (SIGINT: exit 0, or 130 when it came before tail was connected, on a loaded machine). `nc` quits a second after its input ends (`-q 1`).
 * - `ts`/`js`: a program written to a temp `.mts`/`.mjs` file and run with tsx, `switchboard`
 *   imported from src/server/index.ts and `switchboard-client` (or `switchboard/client`) from src/client/index.ts.
 * Each must end within EXAMPLE_TIMEOUT_MS. An example that needs a tool missing here (`nc` from
 * netcat-openbsd, `jq`) is skipped with a loud SKIPPED line, or fails with CI=true (.ci/run
 * installs them).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { AWAITING_MARKS, CLI, DocServers, ROOT, allExamples, chainOf, docFiles, rewriteAddress, where, type DocExample } from './helpers/doc-examples.js';
import { runProcess, type CliResult } from './fixtures/cli-run.js';

const STREAM_SECONDS = 1.5;
// A block of several CLI runs (each starts node) took 15 s on a loaded 2-core machine: a hang still fails.
const EXAMPLE_TIMEOUT_MS = 30_000;
const TSX = import.meta.resolve('tsx');

/** Wrappers the shell examples run under (see the top of this file). */
const PRELUDE = `set -eo pipefail
npx() {
  if [ "$1" != switchboard ]; then command npx "$@"; return; fi
  shift
  # Ended by SIGINT: 0 once tail has its handler, 130 (SIGINT's own) when it came before that (a slow start).
  if [ "$1" = tail ]; then timeout -s INT --preserve-status ${STREAM_SECONDS} node "$SB_CLI" "$@" || [ $? = 130 ]; else node "$SB_CLI" "$@"; fi
}
curl() {
  local a stream=
  for a in "$@"; do [ "$a" = -N ] && stream=1; done
  if [ -n "$stream" ]; then command curl -sS --fail-with-body --max-time ${STREAM_SECONDS} "$@" || [ $? = 28 ]
  else command curl -sS --fail-with-body --max-time 10 "$@"; fi
}
nc() { command nc -q 1 -w 5 "$@"; }
`;

type Outcome = CliResult;

function run(command: string, args: string[], options: { cwd: string; env: Record<string, string>; input?: string }): Promise<Outcome> {
  return runProcess(command, args, { ...options, timeoutMs: EXAMPLE_TIMEOUT_MS, what: `${command} ${args.join(' ')}`.slice(0, 200) });
}

/** The environment of an example: nothing from the test's own (no stray JWT_SECRET or token). */
function baseEnv(url: string): Record<string, string> {
  return {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: process.env.HOME ?? os.tmpdir(),
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    SB_CLI: CLI,
    SWITCHBOARD_URL: url,
  };
}

/** Tools some examples use beyond bash, curl and node; a missing one skips them (fails in CI). */
const TOOLS = ['nc', 'jq'];
const missing = new Set(TOOLS.filter((tool) => spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0));

/** Why an example cannot run here, or false. */
function skipFor(e: DocExample): string | false {
  const needs = TOOLS.filter((tool) => missing.has(tool) && chainOf(examples, e).some((x) => new RegExp(`(^|[\\s|;(])${tool}\\s`, 'm').test(x.code)));
  if (needs.length === 0) return false;
  const why = `${where(e)} needs ${needs.join(' and ')}, missing here (apt-get install ${needs.map((t) => (t === 'nc' ? 'netcat-openbsd' : t)).join(' ')})`;
  if (process.env.CI === 'true') throw new Error(`${why}, and CI=true`);
  console.warn(`\n${'!'.repeat(72)}\nSKIPPED: ${why}\n${'!'.repeat(72)}\n`);
  return why;
}

const servers = new DocServers();
const examples = allExamples();

async function runExample(e: DocExample): Promise<Outcome> {
  const chain = chainOf(examples, e);
  const head = chain[0]!;
  const server = await servers.get(e.file, head.server);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-docs-'));
  try {
    const env = { ...baseEnv(server.url), ...head.env, ...e.env };
    if (e.lang === 'sh' || e.lang === 'bash') {
      const script = `${PRELUDE}${chain.map((x) => rewriteAddress(x.code, server.port)).join('')}`;
      writeFileSync(path.join(dir, 'example.sh'), script);
      return await run('bash', ['example.sh'], { cwd: dir, env, ...(e.input !== undefined ? { input: e.input } : {}) });
    }
    const source = chain
      .map((x) => rewriteAddress(x.code, server.port))
      .join('')
      .replace(/(from\s+|import\s*\(\s*)(['"])switchboard(?:\/client|-client)\2/g, (_, pre: string, q: string) => `${pre}${q}${pathToFileURL(path.join(ROOT, 'src/client/index.ts')).href}${q}`)
      .replace(/(from\s+|import\s*\(\s*)(['"])switchboard\2/g, (_, pre: string, q: string) => `${pre}${q}${pathToFileURL(path.join(ROOT, 'src/server/index.ts')).href}${q}`);
    const file = path.join(dir, e.lang === 'ts' ? 'example.mts' : 'example.mjs');
    writeFileSync(file, source);
    return await run(process.execPath, ['--import', TSX, file], { cwd: dir, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('docs examples', () => {
  after(() => servers.close());

  it('every code block is marked (run, browser, input or none: why), and every marker is well-formed', (t) => {
    const problems: string[] = [];
    for (const e of examples) {
      if (e.kind === undefined && !AWAITING_MARKS.has(e.file)) problems.push(`${where(e)}: a \`${e.lang || 'plain'}\` block with no marker: add <!-- example: run --> or <!-- example: none: why -->`);
      for (const p of e.problems) problems.push(`${where(e)}: ${p}`);
    }
    for (const file of docFiles()) {
      const mine = examples.filter((e) => e.file === file);
      const count = (k: DocExample['kind']): number => mine.filter((e) => e.kind === k).length;
      const unmarked = count(undefined);
      t.diagnostic(`${file}: ${count('run')} run, ${count('browser')} in the browser, ${count('input')} input, ${count('none')} not runnable${unmarked ? `, ${unmarked} NOT MARKED YET` : ''}`);
    }
    assert.deepEqual(problems, []);
    // The parser found them at all: the README alone has several runnable examples.
    assert.ok(examples.filter((e) => e.file === 'README.md' && e.kind === 'run').length >= 4, 'README.md examples found');
  });

  it('every table row stays in its table (a header, a separator, no blank line between rows)', () => {
    const problems: string[] = [];
    for (const file of docFiles()) {
      const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
      let inFence = false;
      let columns = 0;
      for (const [i, line] of lines.entries()) {
        if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
        const row = line.trim();
        if (inFence || !row.startsWith('|')) {
          columns = 0;
          continue;
        }
        // GitHub splits cells on every `|` not escaped, in code spans too.
        const cells = (row.match(/(?<!\\)\|/g) ?? []).length;
        if (columns === 0) {
          if (!/^\|(\s*:?-+:?\s*\|)+$/.test(lines[i + 1]?.trim() ?? '')) problems.push(`${file}:${i + 1}: a table row outside a table (no header and separator above it)`);
          columns = cells;
        } else if (cells !== columns) problems.push(`${file}:${i + 1}: ${cells - 1} cells where the header has ${columns - 1}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  for (const file of docFiles()) {
    const runnable = examples.filter((e) => e.file === file && e.kind === 'run' && e.problems.length === 0);
    if (runnable.length === 0) continue;
    describe(file, () => {
      for (const e of runnable) {
        it(`${where(e)} (${e.lang}${e.continues ? ', continues' : ''}${e.input !== undefined ? ', with input' : ''})`, { timeout: EXAMPLE_TIMEOUT_MS + 15_000, skip: skipFor(e) }, async () => {
          const r = await runExample(e);
          const shown = `\n--- example ${where(e)}:\n${e.code}--- stdout:\n${r.stdout}--- stderr:\n${r.stderr}`;
          assert.equal(r.code, 0, `exit code ${r.code}${shown}`);
          for (const pattern of e.expect) assert.match(r.stdout, pattern, `output does not match ${pattern}${shown}`);
        });
      }
    });
  }
});
