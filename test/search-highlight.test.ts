import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchRanges, queryWords } from '../web/src/search-highlight.js';

/** The parts of `text` a search for `query` marks. */
function marked(text: string, query: string): string[] {
  return matchRanges(text, query).map(([start, end]) => text.slice(start, end));
}

describe('search highlight (web app)', () => {
  it('reads the words of a query as the server does: letters and digits, folded', () => {
    assert.deepEqual(queryWords('  Crème-BRÛLÉE, 42! '), ['creme', 'brulee', '42']);
    assert.deepEqual(queryWords('*** --'), []);
  });

  it('marks the prefix of each word that starts with a query word, case- and diacritic-insensitive', () => {
    assert.deepEqual(marked('Our Crème brûlée recipe', 'creme BRU'), ['Crème', 'brû']);
    assert.deepEqual(marked('ÉCOLE école ecoles', 'ecole'), ['ÉCOLE', 'école', 'ecole']);
    assert.deepEqual(marked('안녕하세요 세계', '안녕'), ['안녕']);
  });

  it('marks only at the start of a word, never inside one', () => {
    assert.deepEqual(marked('rebuild build builder', 'build'), ['build', 'build']);
    assert.deepEqual(marked('nothing here', 'zzz'), []);
    assert.deepEqual(marked('anything', ''), []);
  });

  it('keeps the original text around marks (surrogate pairs and combining marks included)', () => {
    const text = 'e\u0301te\u0301 🎉 été';
    const ranges = matchRanges(text, 'ete');
    assert.deepEqual(ranges.map(([s, e]) => text.slice(s, e)), ['e\u0301te\u0301', 'été']);
    for (const [s, e] of ranges) assert.ok(s < e && e <= text.length);
  });
});
