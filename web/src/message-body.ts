import type { MessageEntry } from 'switchboard-client';
import { h } from './dom.js';
import { richText } from './rich-text.js';

/** Longest compact JSON of a message's data shown inline; the rest is cut with an ellipsis. */
const MAX_DATA_CHARS = 200;

/**
 * What a message shows: its text when it has one; else (a data-only message) its event name and
 * its data as compact JSON, in code style. Links (http and https only) and @mentions are marked;
 * everything else is text nodes: nothing is parsed as HTML.
 */
export function messageBody(entry: MessageEntry, tag: 'p' | 'span', className: string, me?: string | readonly string[]): HTMLElement {
  // dir=auto: a Hebrew or Arabic message runs right to left (its punctuation and numbers where
  // its writer put them), whatever the page's direction.
  if (entry.text !== '' || entry.data === undefined) return h(tag, { class: className, attrs: { dir: 'auto' } }, ...richText(entry.text, me));
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
