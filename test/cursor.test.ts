import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCursor, parseCursor } from '../src/protocol/cursor.js';
import { SwitchboardError } from '../src/protocol/errors.js';

/** The cursor grammar as a regular expression: what parseCursor reads by hand. */
function reference(text: string): { epoch?: string; seq: number } | 'INVALID_CURSOR' | undefined {
  if (text === '') return undefined;
  const match = /^(?:([A-Za-z0-9_-]{1,32}):)?(\d{1,15})$/.exec(text);
  if (!match) return 'INVALID_CURSOR';
  return match[1] === undefined ? { seq: Number(match[2]) } : { epoch: match[1], seq: Number(match[2]) };
}

function parsed(text: string): { epoch?: string; seq: number } | 'INVALID_CURSOR' | undefined {
  try {
    return parseCursor(text);
  } catch (err) {
    if (err instanceof SwitchboardError) return err.code as 'INVALID_CURSOR';
    throw err;
  }
}

describe('parseCursor', () => {
  it('reads `<epoch>:<seq>` and `<seq>`, and refuses anything else with INVALID_CURSOR', () => {
    assert.deepEqual(parseCursor('k2x9f1:42'), { epoch: 'k2x9f1', seq: 42 });
    assert.deepEqual(parseCursor('7'), { seq: 7 });
    assert.equal(parseCursor(''), undefined);
    assert.equal(parseCursor(null), undefined);
    assert.deepEqual(parseCursor(formatCursor({ epoch: 'a'.repeat(32), seq: 999_999_999_999_999 })), { epoch: 'a'.repeat(32), seq: 999_999_999_999_999 });
    for (const bad of [':1', 'a:', 'a:b', 'a:1:2', `${'a'.repeat(33)}:1`, 'a:1234567890123456', '1 ', 'a.b:1', '1\n', '-1', 'é:1']) {
      assert.equal(parsed(bad), 'INVALID_CURSOR', bad);
    }
  });

  it('agrees with the grammar on any text', () => {
    const text = fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z0-9_:.\n-]{0,40}$/), fc.stringMatching(/^[a-z_-]{0,34}:?[0-9]{0,17}$/));
    fc.assert(
      fc.property(text, (t) => assert.deepEqual(parsed(t), reference(t))),
      { numRuns: 20_000 },
    );
  });
});
