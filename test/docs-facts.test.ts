/**
 * Statements of the docs that name things of the code, kept true by reading the code:
 * - docs/architecture.md names every module of src/server, and every module it names exists;
 * - every path of the repository the docs name exists, and every link to a document and heading leads to one;
 * - wherever the docs pair a flag with its environment variable (`--flag` (`ENV`)), that is the pair of src/server/options.ts;
 * - operations.md's "Where each option lives" lists every option of `serve` once, and its metrics table every `command` a session counts;
 * - client.md's table of connect options gives the SDK's defaults (src/client/options.ts);
 * - client.md's size of the browser build is that of the build (within 1 kB, or 3% of it), when built; README.md's is client.md's.
 * The examples of the docs are run by test/docs-examples.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { OPTION_LIST } from '../src/server/options.js';
import { CLIENT_DEFAULTS } from '../src/client/options.js';
import { ROOT, docFiles } from './helpers/doc-examples.js';

const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && statSync(path.join(ROOT, dir, f)).isFile())
    .map((f) => f.split(path.sep).join('/'));
}

describe('docs name what the code has', () => {
  it('docs/architecture.md names every module of src/server, and no module that does not exist', () => {
    const doc = read('docs/architecture.md');
    const modules = filesUnder('src/server');
    const unnamed = modules.filter((m) => !doc.includes(path.posix.basename(m)));
    assert.deepEqual(unnamed, [], 'modules of src/server that docs/architecture.md does not name');
    const everywhere = ['src', 'web', 'packages', 'scripts', 'test', 'bench'].flatMap((d) => filesUnder(d).map((f) => `${d}/${f}`));
    const named = [...new Set([...doc.matchAll(/[\w./-]+\.ts\b/g)].map((m) => m[0]))];
    const missing = named.filter((n) => !everywhere.some((f) => f === n || f.endsWith(`/${n}`)));
    assert.deepEqual(missing, [], 'modules docs/architecture.md names that do not exist');
  });

  it('every path of the repository the docs name exists', () => {
    const problems: string[] = [];
    for (const file of docFiles()) {
      for (const m of read(file).matchAll(/(?<![\w/.-])((?:src|test|bench|examples|scripts|web|packages|deploy|docs)\/[\w./-]+\.(?:ts|mjs|js|json|md|ya?ml|css))\b/g)) {
        if (!existsSync(path.join(ROOT, m[1]!))) problems.push(`${file}: ${m[1]}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('every link to a document of the repository, and to a heading of one, leads to it', () => {
    /** The anchors GitHub makes of a document's headings. */
    const anchors = (file: string): Set<string> => {
      const out = new Set<string>();
      const seen = new Map<string, number>();
      let inFence = false;
      for (const line of read(file).split('\n')) {
        if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
        const m = inFence ? null : /^#{1,6}\s+(.*?)\s*$/.exec(line);
        if (!m) continue;
        const slug = m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
        const n = seen.get(slug) ?? 0;
        seen.set(slug, n + 1);
        out.add(n === 0 ? slug : `${slug}-${n}`);
      }
      return out;
    };
    const problems: string[] = [];
    let links = 0;
    for (const file of docFiles()) {
      for (const m of read(file).matchAll(/\]\(([^)\s#]*)(?:#([^)\s]+))?\)/g)) {
        if (/^[a-z]+:/.test(m[1]!)) continue; // https:, mailto:
        const target = m[1] ? path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1])) : file;
        if (!existsSync(path.join(ROOT, target))) problems.push(`${file}: ${m[0]}: no ${target}`);
        else if (m[2] !== undefined && target.endsWith('.md')) {
          links++;
          if (!anchors(target).has(m[2])) problems.push(`${file}: ${m[0]}: no heading #${m[2]} in ${target}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(links >= 40, `found the links to headings (${links})`);
  });

  it('a flag given with its environment variable is given with its own', () => {
    const byFlag = new Map(OPTION_LIST.map((o) => [o.flag, o]));
    const problems: string[] = [];
    let pairs = 0;
    for (const file of docFiles()) {
      const text = read(file).replace(/\s+/g, ' ');
      // `--a` (`A`), `--a` (env `A`), `--a`, `--b` (`A`, `B`), `--a <file>` (`A`)
      for (const m of text.matchAll(/((?:`--[a-z0-9-]+`(?: <[^>]+>)?(?:, | \/ | and )?)+) \((?:env )?((?:`[A-Z][A-Z0-9_]*`(?:, )?)+)\)/g)) {
        const flags = [...m[1]!.matchAll(/`(--[a-z0-9-]+)`/g)].map((x) => x[1]!);
        const envs = [...m[2]!.matchAll(/`([A-Z0-9_]+)`/g)].map((x) => x[1]!);
        if (flags.some((f) => !byFlag.has(f))) continue; // a flag of the CLI's clients (`--token` (`SWITCHBOARD_TOKEN`))
        pairs++;
        if (flags.length !== envs.length) problems.push(`${file}: "${m[0]}" pairs ${flags.length} flags with ${envs.length} variables`);
        else flags.forEach((f, i) => envs[i] !== byFlag.get(f)!.env && problems.push(`${file}: ${f} is given with ${envs[i]}, but its variable is ${byFlag.get(f)!.env}`));
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(pairs >= 20, `found the pairs (${pairs})`);
  });

  it('operations.md, "Where each option lives", lists every option of serve once', () => {
    const doc = read('docs/operations.md');
    const section = doc.slice(doc.indexOf('## Where each option lives'));
    const listed = [...section.matchAll(/`(--[a-z0-9-]+)`/g)].map((m) => m[1]!).filter((f) => f !== '--config');
    assert.deepEqual(listed.filter((f, i) => listed.indexOf(f) !== i), [], 'listed twice');
    assert.deepEqual(OPTION_LIST.map((o) => o.flag).filter((f) => !listed.includes(f)), [], 'options not listed');
    assert.deepEqual(listed.filter((f) => !OPTION_LIST.some((o) => o.flag === f)), [], 'listed, but no option of serve');
  });

  it("operations.md names every command of switchboard_commands_total, and no other", () => {
    // Every command a session counts goes through Session.run or Session.record, named by a literal.
    const session = read('src/server/session/session.ts');
    const counted = new Set([...session.matchAll(/this\.(?:run|record)(?:<[^>]*>)?\(\s*'([a-z-]+)'/g)].map((m) => m[1]!));
    const row = read('docs/operations.md').split('\n').find((l) => l.startsWith('| `switchboard_commands_total`'));
    assert.ok(row, 'operations.md has a row of switchboard_commands_total');
    const listed = new Set([...row.slice(row.indexOf('is one of'), row.indexOf('`transport` is')).matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!));
    assert.ok(counted.size >= 20, `found the commands of session.ts (${counted.size})`);
    assert.deepEqual([...counted].filter((c) => !listed.has(c)), [], 'commands operations.md does not name');
    assert.deepEqual([...listed].filter((c) => !counted.has(c)), [], 'commands operations.md names that no session counts');
  });

  it("client.md's connect options give the SDK's defaults", () => {
    const doc = read('docs/client.md');
    const table = new Map([...doc.matchAll(/^\| `([\w.]+)` \| `?'?([\w]+)'?`? \|/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [key, value] of Object.entries(CLIENT_DEFAULTS)) {
      const row = key === 'initialDelayMs' || key === 'maxDelayMs' ? `reconnect.${key}` : key;
      assert.equal(table.get(row), String(value), `docs/client.md, connect(options): ${row}`);
    }
  });

  it("client.md's size of the browser build is the build's (within 1 kB, or 3% of it)", (t) => {
    const file = path.join(ROOT, 'dist/browser/switchboard-client.js');
    if (!existsSync(file)) return t.skip('not built');
    const m = /about (\d+) kB, (\d+) kB gzipped/.exec(read('docs/client.md'));
    assert.ok(m, 'docs/client.md gives the size of the browser build');
    const body = readFileSync(file);
    const kB = (n: number): number => n / 1000;
    for (const [claimed, actual, what] of [[Number(m[1]), kB(body.length), 'minified'], [Number(m[2]), kB(gzipSync(body).length), 'gzipped']] as const) {
      assert.ok(Math.abs(actual - claimed) <= Math.max(1, claimed * 0.03), `docs/client.md says about ${claimed} kB ${what}; the build is ${actual.toFixed(1)} kB`);
    }
    // The README says it too, gzipped: the same figure as client.md's.
    const readme = /(\d+) kB gzipped\s+browser build/.exec(read('README.md'));
    assert.ok(readme, 'README.md gives the gzipped size of the browser build');
    assert.equal(readme[1], m[2], `README.md says ${readme[1]} kB gzipped, docs/client.md ${m[2]} kB`);
  });
});
