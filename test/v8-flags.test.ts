import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { SERVER_V8_FLAGS, missingFlags } from '../src/server/v8-flags.js';

describe('the V8 flags a server starts with', () => {
  it('are added when the operator set none', () => {
    assert.deepEqual(missingFlags(SERVER_V8_FLAGS, [], ''), SERVER_V8_FLAGS);
    assert.deepEqual(missingFlags(SERVER_V8_FLAGS, ['--enable-source-maps'], '--max-old-space-size=4096'), SERVER_V8_FLAGS);
  });

  it('give way to the same flag on the command line or in NODE_OPTIONS, either spelling', () => {
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=16'], ''), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], [], '--inspect --max_semi_space_size=8'), []);
    assert.deepEqual(missingFlags(['--optimize-for-size'], ['--optimize_for_size'], ''), []);
  });

  it('are the ones `npm start` passes', () => {
    const start = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
    assert.match(start, new RegExp(`^exec node ${SERVER_V8_FLAGS.join(' ')} dist/src/cli/index\\.js serve$`));
  });
});
