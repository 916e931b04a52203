import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WORKER_V8_FLAGS, workerFlags } from '../src/server/workers/primary.js';

describe('the V8 flags workers start with', () => {
  it('are added when the operator set none', () => {
    assert.deepEqual(workerFlags(WORKER_V8_FLAGS, [], ''), WORKER_V8_FLAGS);
    assert.deepEqual(workerFlags(WORKER_V8_FLAGS, ['--enable-source-maps'], '--max-old-space-size=4096'), WORKER_V8_FLAGS);
  });

  it('give way to the same flag on the command line or in NODE_OPTIONS, either spelling', () => {
    assert.deepEqual(workerFlags(['--max-semi-space-size=1'], ['--max-semi-space-size=16'], ''), []);
    assert.deepEqual(workerFlags(['--max-semi-space-size=1'], [], '--inspect --max_semi_space_size=8'), []);
  });
});
