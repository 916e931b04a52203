import { splitCode, type CodeSegment } from '../../src/protocol/message-code.js';
import { parseText, type TextPart } from './rich-text.js';

/**
 * What a message's text shows: the formatting of chat apps (Slack's, Discord's), a subset of
 * Markdown: `**bold**`, `*italic*` or `_italic_`, `~~strikethrough~~` (or `~one~`, as
 * GitHub's), `` `code` `` and fenced code blocks (a line of three backticks, optionally a
 * language, the code, a line of three backticks; src/protocol/message-code.ts). Line breaks stay as typed; nothing else is Markdown (a `#` or `1.` at the start of
 * a line stays text, as chat writers mean it). Links and @mentions are marked as before, never in
 * code. Pure: parts, not HTML; the page makes text nodes and elements of them.
 */
export type Inline = TextPart | { kind: 'code'; text: string } | { kind: 'strong' | 'em' | 'del'; children: Inline[] };

/** A run of inline content, or a fenced code block (its language word, when one was given). */
export type Block = { kind: 'inline'; children: Inline[] } | { kind: 'pre'; text: string; lang?: string };

/** Delimiter runs (`*`, `_`, `~`) of one stretch of text that may format; past it they stay text, so that any text parses in time proportional to its length. */
export const MAX_DELIMITERS = 256;

const DELIMITERS = /\*+|_+|~+/g;
const SPACE = /\s/u;
const PUNCTUATION = /[\p{P}\p{S}]/u;

/** A message's text as blocks: fenced code, and the inline content between (src/protocol/message-code.ts finds the code, as the server does for mentions). */
export function parseMessage(text: string): Block[] {
  const blocks: Block[] = [];
  let run: CodeSegment[] = [];
  const flush = (): void => {
    if (run.length > 0) blocks.push({ kind: 'inline', children: inlineOf(run) });
    run = [];
  };
  for (const segment of splitCode(text)) {
    if (segment.kind !== 'block') {
      run.push(segment);
      continue;
    }
    flush();
    blocks.push({ kind: 'pre', text: segment.text, ...(segment.lang !== undefined ? { lang: segment.lang } : {}) });
  }
  flush();
  return blocks;
}

/** Inline content of a text (a block in it as code). */
export function parseInline(text: string): Inline[] {
  return parseMessage(text).flatMap((block): Inline[] => (block.kind === 'inline' ? block.children : [{ kind: 'code', text: block.text }]));
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
 * Inline content of prose and code spans: links and mentions in the prose, then emphasis over
 * what is left, by CommonMark's delimiter algorithm (its "rule of 3" included), with GitHub's
 * strikethrough (`~` or `~~`, closed by as many). A code span next to prose counts as
 * punctuation there (its backtick), the start and end of the run as spaces.
 */
function inlineOf(segments: CodeSegment[]): Inline[] {
  const items: Item[] = [];
  let delimiters = 0;
  segments.forEach((segment, k) => {
    if (segment.kind !== 'text') {
      items.push({ kind: 'code', text: segment.text });
      return;
    }
    const text = segment.text;
    const edges = { before: k > 0 ? '`' : ' ', after: k < segments.length - 1 ? '`' : ' ' };
    // Most prose holds no link nor mention: no need to look for them.
    const parts: TextPart[] = text.includes('@') || text.includes('://') ? parseText(text) : [{ kind: 'text', text }];
    // parseText keeps every character in order: a part starts where the one before it ended.
    let offset = 0;
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
        items.push(delimiterAt(text, start + run.index, run[0], edges));
        delimiters++;
        at = run.index + run[0].length;
      }
      if (at < part.text.length) items.push({ kind: 'text', text: part.text.slice(at) });
    }
  });
  return merge(emphasize(items));
}

function delimiterAt(text: string, index: number, run: string, edges: { before: string; after: string }): Delimiter {
  const char = run[0] as '*' | '_' | '~';
  const before = index === 0 ? edges.before : charBefore(text, index);
  const after = index + run.length >= text.length ? edges.after : charAt(text, index + run.length);
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
