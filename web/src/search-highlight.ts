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
  const words = queryWords(query);
  if (!words.length) return [document.createTextNode(text)];
  const folded = fold(text);
  const ranges: Array<[number, number]> = [];
  for (const word of folded.text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const prefix = words.filter((w) => word[0].startsWith(w)).reduce((a, w) => Math.max(a, w.length), 0);
    if (prefix === 0) continue;
    const start = folded.origin[word.index] ?? 0;
    const end = folded.origin[word.index + prefix] ?? text.length;
    ranges.push([start, end]);
  }
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
