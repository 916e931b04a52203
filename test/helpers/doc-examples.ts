/**
 * The code blocks of README.md and docs/*.md as examples to run: the markers that say how, a
 * parser, the servers they run against. Used by test/docs-examples.test.ts (shell and Node
 * examples) and test/e2e/docs-examples.test.ts (browser examples); the conventions are described
 * at the top of the first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { freePort } from './ports.js';
import path from 'node:path';

import { ROOT } from '../fixtures/built.js';

export { ROOT };
/** The command line as the package installs it (`npx switchboard`), built by `npm test`. */
export const CLI = path.join(ROOT, 'dist/src/cli/index.js');

/** Files whose code blocks are examples: README.md and every docs/*.md. */
export function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/**
 * Files being rewritten by other work at the time the markers came in: their marked blocks run,
 * their unmarked ones are reported but do not fail yet. Remove a file from here once every block
 * of it is marked.
 */
export const AWAITING_MARKS: ReadonlySet<string> = new Set<string>([]);

export type ExampleKind = 'run' | 'browser' | 'input' | 'none';

/** One fenced code block and what its marker says. */
export interface DocExample {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's language (`sh`, `ts`, `html`...), '' when none. */
  lang: string;
  /** The block's text, without the fence's indentation, ending with a newline. */
  code: string;
  /** undefined: no marker. */
  kind: ExampleKind | undefined;
  /** Why a `none` block cannot run. */
  reason: string;
  /** Patterns its output must match. */
  expect: RegExp[];
  /** More `switchboard serve` flags for the server it runs against. */
  server: string[];
  /** More environment variables for it. */
  env: Record<string, string>;
  /** Runs after the example before it in the file, in the same script (its variables, its server). */
  continues: boolean;
  /** Browser examples: text typed into the page's first text box, then Enter. */
  type: string | undefined;
  /** The text of the `input` block after it: its standard input. */
  input: string | undefined;
  /** What is wrong with the marker, if anything. */
  problems: string[];
}

/** `where`: `README.md:42`. */
export const where = (e: Pick<DocExample, 'file' | 'line'>): string => `${e.file}:${e.line}`;

const MARKER = /^\s*<!--\s*example:\s*(.*?)\s*-->\s*$/;
const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$/;
const RUNNABLE: Record<'run' | 'browser', readonly string[]> = { run: ['sh', 'bash', 'ts', 'js'], browser: ['js', 'html'] };

/** Splits `run expect="a b" continues server="--x 1"` into words, keeping quoted values whole. */
function words(text: string): string[] {
  return [...text.matchAll(/[^\s"=]+(?:="(?:[^"\\]|\\.)*")?/g)].map((m) => m[0]);
}

/** The examples of one markdown file, in order. */
export function parseExamples(file: string, text: string): DocExample[] {
  const lines = text.split('\n');
  const found: DocExample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    for (; j < lines.length && !close.test(lines[j]!); j++) body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart());
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const marker = k >= 0 ? MARKER.exec(lines[k]!) : null;
    found.push(describeMarker(file, i + 1, lang, body.length ? `${body.join('\n')}\n` : '', marker?.[1]));
    i = j;
  }
  // An `input` block is the standard input of the example just before it.
  for (const [n, e] of found.entries()) {
    if (e.kind !== 'input') continue;
    const before = found[n - 1];
    if (before?.kind === 'run' && (before.lang === 'sh' || before.lang === 'bash')) before.input = e.code;
    else e.problems.push('an `input` block must follow a shell example marked `run`');
  }
  for (const [n, e] of found.entries()) {
    if (!e.continues) continue;
    const before = found.slice(0, n).reverse().find((b) => b.kind === 'run');
    if (!before || before.lang !== e.lang) e.problems.push('`continues` needs an example marked `run` in the same language before it');
  }
  return found;
}

function describeMarker(file: string, line: number, lang: string, code: string, marker: string | undefined): DocExample {
  const e: DocExample = { file, line, lang, code, kind: undefined, reason: '', expect: [], server: [], env: {}, continues: false, type: undefined, input: undefined, problems: [] };
  if (marker === undefined) return e;
  const none = /^none\b:?\s*(.*)$/.exec(marker);
  if (none) {
    e.kind = 'none';
    e.reason = none[1]!.trim();
    if (!e.reason) e.problems.push('`none` needs a reason: <!-- example: none: why -->');
    return e;
  }
  const [kind, ...options] = words(marker);
  if (kind !== 'run' && kind !== 'browser' && kind !== 'input') {
    e.problems.push(`unknown marker "${marker}": run, browser, input or none: why`);
    return e;
  }
  e.kind = kind;
  if (kind !== 'input' && !RUNNABLE[kind].includes(lang)) e.problems.push(`a \`${lang || 'plain'}\` block cannot be marked \`${kind}\` (${RUNNABLE[kind].join(', ')})`);
  for (const option of options) {
    const m = /^([\w-]+)(?:="((?:[^"\\]|\\.)*)")?$/.exec(option);
    const [name, value] = m ? [m[1]!, m[2]] : [option, undefined];
    if (name === 'continues' && value === undefined) e.continues = true;
    else if (name === 'expect' && value !== undefined) {
      try {
        e.expect.push(new RegExp(value, 'm'));
      } catch (err) {
        e.problems.push(`bad expect pattern ${value}: ${(err as Error).message}`);
      }
    } else if (name === 'server' && value !== undefined) e.server.push(...value.split(/\s+/).filter(Boolean));
    else if (name === 'env' && value !== undefined) {
      for (const pair of value.split(/\s+/).filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq > 0) e.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        else e.problems.push(`env wants NAME=value pairs, got ${pair}`);
      }
    } else if (name === 'type' && value !== undefined && kind === 'browser') e.type = value;
    else e.problems.push(`unknown option ${option} (expect="re", server="--flags", env="A=b", continues, type="text" for browser)`);
  }
  if (kind === 'input' && (options.length > 0 || lang === 'sh')) e.problems.push('an `input` block takes no options and is not itself a script');
  return e;
}

/** Every example of every doc file. */
export function allExamples(): DocExample[] {
  return docFiles().flatMap((f) => parseExamples(f, readFileSync(path.join(ROOT, f), 'utf8')));
}

/** The examples' server address (`localhost:3000`, `localhost 3000` for nc) made the test server's. */
export function rewriteAddress(code: string, port: number): string {
  return code.replace(/\blocalhost([: ])3000\b/g, (_, sep: string) => `127.0.0.1${sep}${port}`);
}

/** The script of an example, after the ones it continues. */
export function chainOf(examples: DocExample[], e: DocExample): DocExample[] {
  if (!e.continues) return [e];
  const before = examples
    .slice(0, examples.indexOf(e))
    .reverse()
    .find((b) => b.kind === 'run');
  return before ? [...chainOf(examples, before), e] : [e];
}

/** A `switchboard serve` process of the built package on a free loopback port. */
export interface DocServer {
  port: number;
  url: string;
}

/**
 * The servers the examples run against: `switchboard serve` of the built package (`npm start`
 * with the memory store, on loopback), one per doc file and flag set, so files do not see each
 * other's rooms. Started on first use; `close()` stops them (SIGTERM, a graceful shutdown).
 */
export class DocServers {
  private readonly servers = new Map<string, Promise<DocServer>>();
  private readonly children: ChildProcess[] = [];

  get(file: string, flags: string[]): Promise<DocServer> {
    const key = `${file} ${flags.join(' ')}`;
    let server = this.servers.get(key);
    if (!server) {
      server = this.start(flags);
      this.servers.set(key, server);
    }
    return server;
  }

  private async start(flags: string[]): Promise<DocServer> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first (npm test does)`);
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--host', '127.0.0.1', '--store', 'memory', '--log-level', 'warn', ...flags], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    // A deadline, not a wait: a start takes about a second, but many times that on a machine
    // busy with the other test files and their browsers (10 s was once not enough in CI's shape).
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`switchboard serve ${flags.join(' ')} exited ${child.exitCode}: ${stderr}`);
      try {
        if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return { port, url };
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`switchboard serve ${flags.join(' ')} did not get ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const force = setTimeout(() => child.kill('SIGKILL'), 8000);
            child.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
