/**
 * `npm start`, as the README says to run the server, stops cleanly on SIGTERM (a service
 * manager's stop) and on Ctrl-C (SIGINT to the whole process group, which node gets twice: from
 * the terminal and forwarded by npm): the Node process drains and exits, none is left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_V8_FLAGS } from '../src/server/v8-flags.js';
import { waitFor } from './helpers.js';

describe('npm start', () => {
  it('SIGTERM to npm stops the server process, which exits after its shutdown', { timeout: 30_000 }, async () => {
    assert.ok(existsSync('dist/src/cli/index.js'), 'built first (npm test builds)');
    const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--store', 'memory'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_FORMAT: 'json' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => out.includes('Switchboard listening'), 20_000, 'the server to listen');
    const { pid, port } = JSON.parse(out.split('\n').find((l) => l.includes('Switchboard listening'))!) as { pid: number; port: number };
    // Its young generation is capped (src/server/v8-flags.ts, DEFAULT_V8_FLAGS).
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    assert.ok(DEFAULT_V8_FLAGS.every((f) => argv.includes(f)), `npm start runs node with the default V8 flags: ${argv.join(' ')}`);
    // ...and so is its old generation's growth, raised only while long polls are held (heap-headroom.ts): none now.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^switchboard_heap_growing_percent 15$/m);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await exited;
    await waitFor(() => !alive(pid), 10_000, `server process ${pid} to exit`);
    // Its last lines may still be in the pipe when it is gone.
    await waitFor(() => out.includes('shut down'), 5000, 'the server to log its shutdown').catch(() => {
      throw new Error(`the server did not log its shutdown; it wrote:\n${out.slice(-2000)}`);
    });
  });
});

describe('npm start, Ctrl-C', () => {
  it('SIGINT to the process group (npm and node get it; npm forwards its own): the server finishes its shutdown', { timeout: 30_000 }, async () => {
    assert.ok(existsSync('dist/src/cli/index.js'), 'built first (npm test builds)');
    // Its own process group, as a terminal's foreground job: npm leads it.
    const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--store', 'memory', '--drain-delay-ms', '300'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_FORMAT: 'json' }, detached: true });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await waitFor(() => out.includes('Switchboard listening'), 20_000, 'the server to listen');
      const pid = (JSON.parse(out.split('\n').find((l) => l.includes('Switchboard listening'))!) as { pid: number }).pid;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      process.kill(-child.pid!, 'SIGINT');
      await exited;
      await waitFor(() => !alive(pid), 10_000, `server process ${pid} to exit`);
      await waitFor(() => out.includes('"shut down"'), 5000, 'the server to log its shutdown').catch(() => {
        throw new Error(`the server did not finish its shutdown; it wrote:\n${out.slice(-2000)}`);
      });
      assert.ok(!out.includes('exiting at once'), out.slice(-2000));
    } finally {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
