import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'cookie';
import fc from 'fast-check';
import { readCookies } from '../src/server/cookie-reader.js';

const NAMES = ['sb_seed', 'sb_guest'] as const;

/** What `cookie`'s parse gives for the two names. */
function reference(header: string): (string | undefined)[] {
  const all = parse(header);
  return NAMES.map((name) => all[name]);
}

describe('readCookies', () => {
  it('reads cookies as cookie.parse does', () => {
    for (const header of [
      'sb_seed=abc%3A12; sb_guest=t.k',
      ' sb_guest = a b ; sb_seed=x ;sb_seed=y',
      'other=1; sb_seed; sb_guest=z',
      'sb_seed=%E0%A4%A; x=1',
      'sb_seed==; sb_guest=\t%41\t',
      'a=1;b;c=2;sb_guest=last',
      '',
      's',
      'sb_seedx=1; xsb_seed=2',
    ]) {
      assert.deepEqual(readCookies(header, NAMES), reference(header), header);
    }
  });

  it('agrees with cookie.parse on any header', () => {
    const piece = fc.constantFrom('sb_seed', 'sb_guest', 'sb_see', 'x', '=', ';', ' ', '\t', '%3A', '%', 'a', '%E0%A4%A8');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), (pieces) => {
        const header = pieces.join('');
        assert.deepEqual(readCookies(header, NAMES), reference(header));
      }),
      { numRuns: 20_000 },
    );
  });
});
