import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SMALL_HEAP_V8_FLAGS, missingFlags } from '../src/server/v8-flags.js';

describe('the V8 flags of --small-heap', () => {
  it('are added when the operator set none', () => {
    assert.deepEqual(missingFlags(SMALL_HEAP_V8_FLAGS, [], ''), SMALL_HEAP_V8_FLAGS);
    assert.deepEqual(missingFlags(SMALL_HEAP_V8_FLAGS, ['--enable-source-maps'], '--max-old-space-size=4096'), SMALL_HEAP_V8_FLAGS);
  });

  it('give way to the same flag on the command line or in NODE_OPTIONS, either spelling', () => {
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=16'], ''), []);
    assert.deepEqual(missingFlags(['--max-semi-space-size=1'], [], '--inspect --max_semi_space_size=8'), []);
    assert.deepEqual(missingFlags(['--optimize-for-size'], ['--optimize_for_size'], ''), []);
  });
});
