import { h } from './dom.js';

/** The words of a search query as the server reads them: runs of letters and digits, folded. */
export function queryWords(query: string): string[] {
  return [...fold(query).text.matchAll(/[\p{L}\p{N}]+/gu)].map((m) => m[0]);
}

/**
 * `text` as nodes with every word that starts with a word of `query` marked (`<mark>`), the way
 * the server matches: each query word a prefix of a word of the text, case- and
 * diacritic-insensitive. Text nodes only: nothing is parsed as HTML.
 */
export function highlightMatches(text: string, query: string): Node[] {
  const ranges = matchRanges(text, query);
  const nodes: Node[] = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start > at) nodes.push(document.createTextNode(text.slice(at, start)));
    nodes.push(h('mark', 'match', text.slice(start, end)));
    at = end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  return nodes;
}

/**
 * Where `text` matches `query` as the server matches: for each word of the text that starts with
 * a word of the query (folded), the [start, end) of that prefix in `text`, in order.
 */
export function matchRanges(text: string, query: string): Array<[number, number]> {
  const words = queryWords(query);
  const ranges: Array<[number, number]> = [];
  if (!words.length) return ranges;
  const folded = fold(text);
  for (const word of folded.text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const prefix = words.filter((w) => word[0].startsWith(w)).reduce((a, w) => Math.max(a, w.length), 0);
    if (prefix === 0) continue;
    ranges.push([folded.origin[word.index] ?? 0, folded.origin[word.index + prefix] ?? text.length]);
  }
  return ranges;
}

/**
 * Lower case without diacritics ("Émile" → "emile"), with, for each UTF-16 index of the folded
 * text, the index in the original it came from (one past the end included).
 */
function fold(text: string): { text: string; origin: number[] } {
  let out = '';
  const origin: number[] = [];
  let i = 0;
  for (const ch of text) {
    const f = ch.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
    for (let k = 0; k < f.length; k++) origin.push(i);
    out += f;
    i += ch.length;
  }
  origin.push(text.length);
  return { text: out, origin };
}
