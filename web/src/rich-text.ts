import { h } from './dom.js';

/** A link or a mention in a message's text, or plain text between them. */
export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string } | { kind: 'mention'; text: string; name: string };

/** http(s) URLs (not inside a word; after `_`, as in `_https://x.org_`, yes), and @names (letters, digits, `_`, `-`, `.`) at the start of a word. */
const TOKENS = /(?<![\p{L}\p{N}])https?:\/\/[^\s<>"'`]+|(?<![\w@])@[\p{L}\p{N}_][\p{L}\p{N}_.-]{0,63}/giu;
/** Punctuation that ends a sentence rather than a URL, and the markers of bold, italic and strikethrough around one. */
const TRAILING = /[.,;:!?'"*~]+$/;

/**
 * Splits a message's text into plain text, links and mentions. A link is only ever http or
 * https (checked by the URL parser, never by a pattern alone); a closing bracket at its end is
 * kept only when the URL opened one. Nothing here is markup: parts become text nodes and
 * attributes, never HTML.
 */
export function parseText(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let at = 0;
  const plain = (end: number): void => {
    if (end > at) parts.push({ kind: 'text', text: text.slice(at, end) });
  };
  for (const match of text.matchAll(TOKENS)) {
    const start = match.index;
    let token = match[0];
    if (token.startsWith('@')) {
      const name = token.slice(1).replace(/[.-]+$/, '');
      plain(start);
      parts.push({ kind: 'mention', text: `@${name}`, name });
      at = start + 1 + name.length;
      continue;
    }
    token = token.replace(TRAILING, '');
    // `_https://x.org/a_`: the closing underscore of italics, not the URL's.
    if (text[start - 1] === '_') token = token.replace(/_+$/, '');
    while (token.endsWith(')') && count(token, '(') < count(token, ')')) token = token.slice(0, -1).replace(TRAILING, '');
    const href = safeHref(token);
    if (href === undefined) continue;
    plain(start);
    parts.push({ kind: 'link', text: token, href });
    at = start + token.length;
  }
  plain(text.length);
  return parts;
}

/** The URL when it is http or https, else undefined. */
export function safeHref(candidate: string): string | undefined {
  try {
    const url = new URL(candidate);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}

/** Who "me" is for mentions: a name or member id, or several, folded. */
export function mentionSet(me?: string | readonly string[]): ReadonlySet<string> {
  return new Set((typeof me === 'string' ? [me] : me ?? []).map((n) => n.toLowerCase()));
}

/**
 * A part as a node: links open in a new tab without telling the page who opened it
 * (`noopener noreferrer`); mentions are highlighted, more so when they name one of `mine`.
 */
export function partNode(part: TextPart, mine: ReadonlySet<string>): Node {
  if (part.kind === 'text') return document.createTextNode(part.text);
  if (part.kind === 'link') return h('a', { class: 'msg-link', attrs: { href: part.href, target: '_blank', rel: 'noopener noreferrer' } }, part.text);
  const isMe = mine.has(part.name.toLowerCase());
  return h('span', { class: isMe ? 'mention me' : 'mention', attrs: { title: isMe ? 'Mentions you' : undefined } }, part.text);
}
