import { parseText, type TextPart } from './rich-text.js';

/**
 * What a message's text shows: the formatting of chat apps (Slack's, Discord's), a subset of
 * Markdown: `**bold**`, `*italic*` or `_italic_`, `~~strikethrough~~` (or `~one~`, as GitHub's), `` `code` `` and fenced
 * code blocks (a line of three backticks, optionally a language, the code, a line of three
 * backticks). Line breaks stay as typed; nothing else is Markdown (a `#` or `1.` at the start of
 * a line stays text, as chat writers mean it). Links and @mentions are marked as before, never in
 * code. Pure: parts, not HTML; the page makes text nodes and elements of them.
 */
export type Inline = TextPart | { kind: 'code'; text: string } | { kind: 'strong' | 'em' | 'del'; children: Inline[] };

/** A run of inline content, or a fenced code block (its language word, when one was given). */
export type Block = { kind: 'inline'; children: Inline[] } | { kind: 'pre'; text: string; lang?: string };

/** Delimiter runs (`*`, `_`, `~`) of one stretch of text that may format; past it they stay text, so that any text parses in time proportional to its length. */
export const MAX_DELIMITERS = 256;

const FENCE_OPEN = /^```([\w+#.-]{1,32})?[ \t]*$/;
const FENCE_CLOSE = /^```[ \t]*$/;
const BACKTICKS = /`+/g;
const DELIMITERS = /\*+|_+|~+/g;
const SPACE = /\s/u;
const PUNCTUATION = /[\p{P}\p{S}]/u;

/** A message's text as blocks: fenced code, and the inline content between (each without the line breaks next to a fence). */
export function parseMessage(text: string): Block[] {
  const lines = text.split('\n');
  // For each line, the first closing fence at or after it: each line is looked at a fixed number of times.
  const nextClose = new Int32Array(lines.length + 1).fill(-1);
  for (let i = lines.length - 1; i >= 0; i--) nextClose[i] = FENCE_CLOSE.test(lines[i] ?? '') ? i : (nextClose[i + 1] ?? -1);
  const blocks: Block[] = [];
  let from = 0;
  const flush = (to: number): void => {
    if (to > from) blocks.push({ kind: 'inline', children: parseInline(lines.slice(from, to).join('\n')) });
  };
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i] ?? '');
    const close = open ? (nextClose[i + 1] ?? -1) : -1;
    if (!open || close === -1) continue;
    flush(i);
    blocks.push({ kind: 'pre', text: lines.slice(i + 1, close).join('\n'), ...(open[1] !== undefined ? { lang: open[1] } : {}) });
    i = close;
    from = close + 1;
  }
  flush(lines.length);
  return blocks;
}

/** The text a reader sees (the markers of formatting left out, code kept), for one-line previews and search results. */
export function plainText(text: string): string {
  return parseMessage(text)
    .map((block) => (block.kind === 'pre' ? block.text : inlineText(block.children)))
    .join('\n');
}

function inlineText(parts: Inline[]): string {
  return parts.map((part) => ('children' in part ? inlineText(part.children) : part.text)).join('');
}

/** One delimiter run between the atoms of a text: what is left of it, and whether it may open or close (CommonMark's flanking rules). */
interface Delimiter {
  kind: 'delimiter';
  char: '*' | '_' | '~';
  count: number;
  length: number;
  canOpen: boolean;
  canClose: boolean;
}
type Item = Inline | Delimiter;

/**
 * Inline content: code spans first (a run of backticks to the next run of as many), then links
 * and mentions in the text between, then emphasis over what is left, by CommonMark's delimiter
 * algorithm (its "rule of 3" included), with GitHub's strikethrough (`~` or `~~`, closed by as many).
 */
export function parseInline(text: string): Inline[] {
  const items: Item[] = [];
  let delimiters = 0;
  const textOf = (from: number, to: number): void => {
    // parseText keeps every character in order: a part starts where the one before it ended.
    let offset = from;
    const slice = text.slice(from, to);
    // Most stretches between code spans hold no link nor mention: no need to look for them.
    const parts: TextPart[] = slice.includes('@') || slice.includes('://') ? parseText(slice) : slice === '' ? [] : [{ kind: 'text', text: slice }];
    for (const part of parts) {
      const start = offset;
      offset += part.text.length;
      if (part.kind !== 'text') {
        items.push(part);
        continue;
      }
      let at = 0;
      for (const run of part.text.matchAll(DELIMITERS)) {
        if (delimiters >= MAX_DELIMITERS) break;
        if (run.index > at) items.push({ kind: 'text', text: part.text.slice(at, run.index) });
        items.push(delimiterAt(text, start + run.index, run[0]));
        delimiters++;
        at = run.index + run[0].length;
      }
      if (at < part.text.length) items.push({ kind: 'text', text: part.text.slice(at) });
    }
  };
  let at = 0;
  for (const span of codeSpans(text)) {
    textOf(at, span.start);
    items.push({ kind: 'code', text: span.code });
    at = span.end;
  }
  textOf(at, text.length);
  return merge(emphasize(items));
}

/** The code spans of a text, in order: a run of backticks, up to the next run of exactly as many. */
function codeSpans(text: string): Array<{ start: number; end: number; code: string }> {
  const runs = [...text.matchAll(BACKTICKS)].map((m) => ({ start: m.index, length: m[0].length }));
  const next = new Array<number>(runs.length).fill(-1);
  const seen = new Map<number, number>();
  for (let i = runs.length - 1; i >= 0; i--) {
    const run = runs[i];
    if (run === undefined) continue;
    next[i] = seen.get(run.length) ?? -1;
    seen.set(run.length, i);
  }
  const spans: Array<{ start: number; end: number; code: string }> = [];
  for (let i = 0; i < runs.length; i++) {
    const open = runs[i];
    const closeAt = next[i] ?? -1;
    const close = runs[closeAt];
    if (open === undefined || close === undefined) continue;
    let code = text.slice(open.start + open.length, close.start);
    // As CommonMark: one space each side is padding (so that `` `x` `` can show its backticks).
    if (code.length >= 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim() !== '') code = code.slice(1, -1);
    if (code === '') continue;
    spans.push({ start: open.start, end: close.start + close.length, code });
    i = closeAt;
  }
  return spans;
}

function delimiterAt(text: string, index: number, run: string): Delimiter {
  const char = run[0] as '*' | '_' | '~';
  const before = index === 0 ? ' ' : charBefore(text, index);
  const after = index + run.length >= text.length ? ' ' : charAt(text, index + run.length);
  const leftFlanking = !SPACE.test(after) && (!PUNCTUATION.test(after) || SPACE.test(before) || PUNCTUATION.test(before));
  const rightFlanking = !SPACE.test(before) && (!PUNCTUATION.test(before) || SPACE.test(after) || PUNCTUATION.test(after));
  let canOpen = leftFlanking;
  let canClose = rightFlanking;
  // snake_case_words stay words: an underscore inside a word neither opens nor closes.
  if (char === '_') {
    canOpen = leftFlanking && (!rightFlanking || PUNCTUATION.test(before));
    canClose = rightFlanking && (!leftFlanking || PUNCTUATION.test(after));
  }
  // Strikethrough is one or two tildes, as GitHub's (`~~~`: text).
  if (char === '~' && run.length > 2) canOpen = canClose = false;
  return { kind: 'delimiter', char, count: run.length, length: run.length, canOpen, canClose };
}

function charBefore(text: string, index: number): string {
  const low = text.charCodeAt(index - 1);
  return low >= 0xdc00 && low <= 0xdfff && index >= 2 ? text.slice(index - 2, index) : text.charAt(index - 1);
}

function charAt(text: string, index: number): string {
  return String.fromCodePoint(text.codePointAt(index) ?? 32);
}

/** CommonMark's "process emphasis": each closer, from the left, takes the nearest opener of its kind before it. */
function emphasize(items: Item[]): Item[] {
  for (let c = 0; c < items.length; c++) {
    const closer = items[c];
    if (closer?.kind !== 'delimiter' || !closer.canClose) continue;
    while (closer.count > 0) {
      const o = openerFor(items, c, closer);
      if (o === -1) break;
      const opener = items[o] as Delimiter;
      const use = closer.char === '~' ? closer.count : opener.count >= 2 && closer.count >= 2 ? 2 : 1;
      const kind = closer.char === '~' ? 'del' : use === 2 ? 'strong' : 'em';
      const children = merge(items.slice(o + 1, c).map(literal));
      items.splice(o + 1, c - o - 1, { kind, children });
      c = o + 2;
      opener.count -= use;
      closer.count -= use;
      if (opener.count === 0) {
        items.splice(o, 1);
        c--;
      }
    }
    if (closer.count === 0) {
      items.splice(c, 1);
      c--;
    }
  }
  return items;
}

function openerFor(items: Item[], c: number, closer: Delimiter): number {
  for (let o = c - 1; o >= 0; o--) {
    const opener = items[o];
    if (opener?.kind !== 'delimiter' || opener.char !== closer.char || !opener.canOpen || opener.count === 0) continue;
    if (closer.char === '~' && opener.count !== closer.count) continue;
    // CommonMark's rule of 3: `*a**` is not a match when one of the runs may both open and close.
    const both = opener.canClose || closer.canOpen;
    if (both && (opener.length + closer.length) % 3 === 0 && !(opener.length % 3 === 0 && closer.length % 3 === 0)) continue;
    return o;
  }
  return -1;
}

/** A delimiter nothing matched is the text it was. */
function literal(item: Item): Inline {
  return item.kind === 'delimiter' ? { kind: 'text', text: item.char.repeat(item.count) } : item;
}

/** Neighbouring text parts as one. */
function merge(items: Item[]): Inline[] {
  const out: Inline[] = [];
  for (const item of items) {
    const inline = literal(item);
    const last = out[out.length - 1];
    if (inline.kind === 'text' && last?.kind === 'text') out[out.length - 1] = { kind: 'text', text: last.text + inline.text };
    else if (inline.kind !== 'text' || inline.text !== '') out.push(inline);
  }
  return out;
}
