import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULT_V8_FLAGS, SMALL_HEAP_V8_FLAGS, missingFlags } from '../src/server/v8-flags.js';

describe('the V8 flags of --small-heap', () => {
  it('are added when the operator set none', () => {
    assert.deepEqual(missingFlags(SMALL_HEAP_V8_FLAGS, [], ''), SMALL_HEAP_V8_FLAGS);
    assert.deepEqual(missingFlags(SMALL_HEAP_V8_FLAGS, ['--enable-source-maps'], '--max-old-space-size=4096'), SMALL_HEAP_V8_FLAGS);
  });

  it('npm start runs node with the default ones, which are in package.json as in v8-flags.ts', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts.start, `exec node ${DEFAULT_V8_FLAGS.join(' ')} dist/src/cli/index.js serve`);
  });

  it('give way to the same flag on the command line or in NODE_OPTIONS, either spelling', () => {
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=16'], ''), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], [], '--inspect --max_semi_space_size=8'), []);
    assert.deepEqual(missingFlags(['--optimize-for-size'], ['--optimize_for_size'], ''), []);
    assert.deepEqual(missingFlags(['--no-parallel-scavenge'], ['--parallel-scavenge'], ''), []);
    assert.deepEqual(missingFlags(['--no-parallel-scavenge'], ['--no_parallel_scavenge'], ''), []);
    assert.deepEqual(missingFlags(['--no-parallel-scavenge', '--max-semi-space-size=4'], ['--parallel-scavenge-foo'], ''), ['--no-parallel-scavenge', '--max-semi-space-size=4']);
  });
});

describe('--small-heap without workers', () => {
  const run = (nodeArgs: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeArgs, 'dist/src/cli/index.js', 'serve', '--small-heap', '--port', '0', '--host', '127.0.0.1', '--store', 'memory'], {
        env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        // The warning, if any, comes right after the listening line.
        if (/Switchboard listening/.test(out)) setTimeout(() => child.kill('SIGTERM'), 200);
      });
      child.on('error', reject);
      child.on('exit', () => resolve(out));
    });

  it('warns that one process gets the flags from node only, and is quiet when node has them', { skip: existsSync('dist/src/cli/index.js') ? false : 'run `npm run build` first' }, async () => {
    assert.match(await run([]), /"missing":\["--optimize-for-size","--max-semi-space-size=1","--no-parallel-scavenge"\].*--small-heap sets the V8 flags of workers/);
    assert.doesNotMatch(await run([...SMALL_HEAP_V8_FLAGS]), /--small-heap sets the V8 flags/);
  });
});
