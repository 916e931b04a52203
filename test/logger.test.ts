import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('the logger', () => {
  it('pretty-prints in its own thread: no worker thread per process (one per worker of --workers in a terminal)', () => {
    const script = `
      import { readdirSync } from 'node:fs';
      import { createLogger } from './src/server/logger.ts';
      const threads = () => readdirSync('/proc/self/task').length;
      const before = threads();
      const logger = createLogger('info', true);
      logger.info({ port: 1 }, 'pretty line');
      setTimeout(() => { console.error('threads ' + before + ' ' + threads()); }, 300);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /INFO.*pretty line/);
    assert.match(r.stdout, /port.*1/);
    const [, before, after] = /threads (\d+) (\d+)/.exec(r.stderr) ?? [];
    assert.ok(before !== undefined && after !== undefined, r.stderr);
    assert.equal(Number(after), Number(before), 'no thread started for the pretty printer');
  });
});
