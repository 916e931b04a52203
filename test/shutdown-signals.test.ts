/**
 * Ctrl-C on a running `switchboard serve` (the built CLI, a real process in its own process
 * group, as a terminal runs it): under npm, node gets SIGINT twice, from the terminal and
 * forwarded by npm. The repeat must not cut the graceful shutdown; a third signal forces the exit.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from './helpers.js';

const built = existsSync('dist/src/cli/index.js');

interface Serve {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `serve` as the leader of its own process group, listening; `--drain-delay-ms` keeps the shutdown going long enough for the repeats to land in it. */
async function serve(args: string[], listening = 'Switchboard listening'): Promise<Serve> {
  const child = spawn(process.execPath, ['dist/src/cli/index.js', 'serve', '--port', '0', '--host', '127.0.0.1', '--drain-delay-ms', '500', ...args], {
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(() => out.includes(listening), 60_000, 'the server to listen').catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}; it wrote:\n${out.slice(-2000)}`);
  });
  return { child, output: () => out, exited };
}

/** What a terminal's Ctrl-C does: SIGINT to every process of the group. */
function ctrlC(s: Serve): void {
  process.kill(-s.child.pid!, 'SIGINT');
}

async function exitOf(s: Serve, ms = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const timer = setTimeout(() => process.kill(-s.child.pid!, 'SIGKILL'), ms);
  try {
    return await s.exited;
  } finally {
    clearTimeout(timer);
  }
}

const lines = (s: Serve): Array<{ msg?: string; role?: string; node?: string }> =>
  s
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string });

describe('SIGINT twice (Ctrl-C under npm)', { skip: built ? false : 'run `npm run build` first', timeout: 90_000 }, () => {
  it('one server: the repeat is logged, the shutdown finishes ("shut down"), exit code 0', async () => {
    const s = await serve(['--store', 'memory']);
    ctrlC(s);
    await new Promise((r) => setTimeout(r, 50));
    ctrlC(s);
    const { code, signal } = await exitOf(s);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, s.output().slice(-2000));
    const msgs = lines(s).map((l) => l.msg);
    assert.ok(msgs.some((m) => m?.startsWith('shutdown under way')), `the repeat is logged: ${msgs.join(' | ')}`);
    assert.ok(msgs.includes('shut down'), `the shutdown finished: ${msgs.join(' | ')}`);
  });

  it('one server: a third signal exits at once (130), saying so', async () => {
    // A long drain: only the third signal can end the process this soon.
    const s = await serve(['--store', 'memory', '--drain-delay-ms', '20000', '--shutdown-timeout-ms', '30000']);
    for (let i = 0; i < 3; i++) {
      ctrlC(s);
      await new Promise((r) => setTimeout(r, 50));
    }
    const { code } = await exitOf(s, 10_000);
    assert.equal(code, 130, s.output().slice(-2000));
    const msgs = lines(s).map((l) => l.msg);
    assert.ok(msgs.some((m) => m?.includes('exiting at once')), `the forced exit is logged: ${msgs.join(' | ')}`);
    assert.ok(!msgs.includes('shut down'));
  });

  it('--workers 2: the primary and both workers get it (the primary twice), every worker shuts down, exit code 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-signals-'));
    try {
      // The primary's line, once every worker listens (each worker says it listens first).
      const s = await serve(['--workers', '2', '--data-dir', dir, '--shutdown-timeout-ms', '2000'], 'with 2 workers');
      ctrlC(s);
      await new Promise((r) => setTimeout(r, 50));
      // npm forwards its SIGINT to its child, the primary, alone.
      s.child.kill('SIGINT');
      const { code, signal } = await exitOf(s, 60_000);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, s.output().slice(-3000));
      const all = lines(s);
      assert.equal(all.filter((l) => l.msg === 'shut down').length, 2, `both workers finished their shutdown: ${all.map((l) => l.msg).join(' | ')}`);
      assert.ok(all.some((l) => l.msg === 'every worker exited'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
