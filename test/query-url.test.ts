import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { QueryUrl } from '../src/server/http-util.js';

/** What routes read of a target, the reference way: URLSearchParams over the query (before any `#`). */
function reference(target: string, name: string): string | null {
  const q = target.indexOf('?');
  if (q < 0) return null;
  const hash = target.indexOf('#', q);
  return new URLSearchParams(hash < 0 ? target.slice(q + 1) : target.slice(q + 1, hash)).get(name);
}

const NAMES = ['after', 'limit', 'timeout', 'session', 'token', 'name', 'a', '', 'after=', 'a&b', '%61', 'a+b'];

describe('QueryUrl', () => {
  it('reads parameters as URLSearchParams does', () => {
    const cases = [
      '/api/rooms/r/longpoll?after=Ab_9:12&timeout=5000',
      '/api/rooms/r/longpoll?after=Ab_9:12&timeout=5000&after=x',
      '/x?after&limit=',
      '/x?=v&after==1&&limit=3#limit=4',
      '/x?aft=1&afterx=2&after=3',
      '/x?name=a%20b&after=%3A',
      '/x?name=a+b',
      '/x?%61fter=decoded',
      '/x#?after=1',
      '/x?',
      '/x',
      '/x?after=é&name=ü',
    ];
    for (const target of cases) {
      const url = new QueryUrl(target);
      for (const name of NAMES) assert.equal(url.searchParams.get(name), reference(target, name), `${target} ${name}`);
    }
  });

  it('agrees with URLSearchParams on any target', () => {
    const part = fc.stringMatching(/^[a-z=&%+#?:0-9é]{0,12}$/);
    fc.assert(
      fc.property(part, part, fc.constantFrom(...NAMES), (path, query, name) => {
        const target = `/${path}?${query}`;
        assert.equal(new QueryUrl(target).searchParams.get(name), reference(target, name));
      }),
      { numRuns: 5000 },
    );
  });
});
