import type { MessageEntry } from 'switchboard-client';
import { h } from './dom.js';
import { parseMessage, type Block, type Inline } from './message-format.js';
import { mentionSet, partNode } from './rich-text.js';

/** Longest compact JSON of a message's data shown inline; the rest is cut with an ellipsis. */
const MAX_DATA_CHARS = 200;

/**
 * What a message shows: its text when it has one, formatted (message-format.ts: bold, italic,
 * strikethrough, code, code blocks; links, http and https only, and @mentions marked); else (a
 * data-only message) its event name and its data as compact JSON, in code style. Elements and
 * text nodes only: nothing is parsed as HTML. A text with a code block comes in a `div` whatever
 * `tag` says (a `pre` has no place in a `p` or a `span`).
 */
export function messageBody(entry: MessageEntry, tag: 'p' | 'span', className: string, me?: string | readonly string[]): HTMLElement {
  if (entry.text !== '' || entry.data === undefined) {
    const blocks = parseMessage(entry.text);
    const mine = mentionSet(me);
    const hasBlock = blocks.some((b) => b.kind === 'pre');
    // dir=auto: a Hebrew or Arabic message runs right to left (its punctuation and numbers where
    // its writer put them), whatever the page's direction.
    return h(hasBlock ? 'div' : tag, { class: className, attrs: { dir: 'auto' } }, ...blocks.flatMap((b) => blockNodes(b, mine)));
  }
  const json = JSON.stringify(entry.data);
  const shown = json.length > MAX_DATA_CHARS ? `${json.slice(0, MAX_DATA_CHARS - 1)}…` : json;
  return h(
    tag,
    `${className} data`,
    entry.event ? h('span', 'data-event', entry.event) : null,
    entry.event ? ' ' : null,
    h('code', { class: 'data-json', attrs: { title: json.length > MAX_DATA_CHARS ? 'Cut: the whole data is in the message' : undefined } }, shown),
  );
}

function blockNodes(block: Block, mine: ReadonlySet<string>): Node[] {
  if (block.kind === 'inline') return block.children.map((part) => inlineNode(part, mine));
  // dir=ltr: code reads left to right in any message. tabindex: a block wider than the bubble
  // scrolls, and the keyboard must reach it to scroll it.
  return [h('pre', { class: 'msg-pre', attrs: { dir: 'ltr', tabindex: 0, 'data-lang': block.lang } }, h('code', null, block.text))];
}

function inlineNode(part: Inline, mine: ReadonlySet<string>): Node {
  if (part.kind === 'code') return h('code', 'msg-code', part.text);
  if ('children' in part) return h(part.kind, null, ...part.children.map((child) => inlineNode(child, mine)));
  return partNode(part, mine);
}
