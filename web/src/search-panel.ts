import type { MessageEntry, SearchResult } from 'switchboard-client';
import { h, icon, replaceChildren } from './dom.js';
import { formatDay, formatFull, formatTime } from './format.js';
import { plainText } from './message-format.js';
import { highlightMatches, queryWords } from './search-highlight.js';

/** Screens on which the panel is drawn over the conversation (styles.css). */
const COVERS = '(max-width: 700px)';

export interface SearchPanelOptions {
  /** One page of results, older than `before` when given (the session's search). */
  search(q: string, before?: number): Promise<SearchResult>;
  /** A result was picked: show the message in the conversation. */
  onPick(seq: number): void;
}

/**
 * Search in the room: a field in the room header (a `search` landmark, the input named "Search
 * messages") and a panel of results, newest first (name, time, text with the words matched
 * marked), "No results", and "More results" for the next (older) page. Escape closes the panel.
 */
export class SearchPanel {
  /** The form that goes in the header. */
  readonly field: HTMLFormElement;
  /** The panel of results (hidden until a search ran). */
  readonly panel: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly list: HTMLOListElement;
  private readonly status: HTMLElement;
  private readonly more: HTMLButtonElement;
  private query = '';
  private last: SearchResult | undefined;
  /** Tells apart the answers of successive searches (a slow old one must not land in a new list). */
  private token = 0;

  constructor(private readonly options: SearchPanelOptions) {
    this.input = h('input', { class: 'search-input', attrs: { type: 'search', id: 'search-input', 'aria-label': 'Search messages', placeholder: 'Search', autocomplete: 'off', maxlength: 200, 'aria-controls': 'search-panel' } });
    this.field = h(
      'form',
      { class: 'search-field', attrs: { role: 'search', 'aria-label': 'Search this room' }, on: { submit: (e) => { e.preventDefault(); void this.run(); }, keydown: (e) => this.onKeyDown(e) } },
      icon('search'),
      this.input,
    );
    this.list = h('ol', { class: 'search-results', attrs: { 'aria-label': 'Search results' } });
    this.status = h('p', { class: 'search-status', attrs: { role: 'status' } });
    this.more = h('button', { class: 'link-button search-more', attrs: { type: 'button', hidden: true }, on: { click: () => void this.loadMore() } }, 'More results');
    this.panel = h(
      'section',
      { class: 'search-panel', attrs: { id: 'search-panel', 'aria-labelledby': 'search-title', hidden: true }, on: { keydown: (e) => this.onKeyDown(e) } },
      h(
        'header',
        'search-head',
        h('h2', { attrs: { id: 'search-title' } }, 'Search results'),
        h('button', { class: 'icon-only small', attrs: { type: 'button', 'aria-label': 'Close search' }, on: { click: () => this.close() } }, icon('close')),
      ),
      this.status,
      this.list,
      this.more,
    );
    matchMedia(COVERS).addEventListener('change', () => this.updateCovered());
  }

  /** Empties and hides (another room was opened). */
  reset(): void {
    this.token++;
    this.input.value = '';
    this.close();
  }

  close(): void {
    const inside = this.panel.contains(document.activeElement);
    this.setShown(false);
    this.list.replaceChildren();
    this.last = undefined;
    if (inside) this.input.focus();
  }

  private async run(): Promise<void> {
    const q = this.input.value.trim();
    if (!queryWords(q).length) {
      this.close();
      return;
    }
    this.query = q;
    const token = ++this.token;
    this.setShown(true);
    this.list.replaceChildren();
    this.more.hidden = true;
    this.status.textContent = 'Searching…';
    try {
      const result = await this.options.search(q);
      if (token !== this.token) return;
      this.show(result, false);
    } catch (err) {
      if (token === this.token) this.status.textContent = `Search failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  private async loadMore(): Promise<void> {
    const before = this.last?.results.at(-1)?.seq;
    if (before === undefined) return;
    const token = this.token;
    this.more.disabled = true;
    try {
      const result = await this.options.search(this.query, before);
      if (token !== this.token) return;
      this.show(result, true);
    } catch (err) {
      if (token === this.token) this.status.textContent = `Search failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.more.disabled = false;
    }
  }

  private show(result: SearchResult, append: boolean): void {
    this.last = result;
    const firstNew = this.list.children.length;
    const items = result.results.map((m) => this.item(m));
    if (append) this.list.append(...items);
    else replaceChildren(this.list, ...items);
    const total = this.list.children.length;
    const partial = result.complete ? '' : ' (only the newest messages were searched)';
    this.status.textContent = total === 0 ? `No results${partial}` : `${total}${result.more ? '+' : ''} result${total === 1 && !result.more ? '' : 's'} for “${this.query}”${partial}`;
    this.more.hidden = !result.more;
    if (append) this.list.children[firstNew]?.querySelector<HTMLElement>('button')?.focus();
  }

  private item(m: MessageEntry): HTMLLIElement {
    return h(
      'li',
      null,
      h(
        'button',
        { class: 'search-result', attrs: { type: 'button', 'data-seq': m.seq }, on: { click: () => this.pick(m.seq) } },
        h('span', 'search-meta', h('span', 'search-name', m.from.name), ' ', h('time', { attrs: { datetime: new Date(m.ts).toISOString(), title: formatFull(m.ts) } }, `${formatDay(m.ts) === 'Today' ? '' : `${formatDay(m.ts)}, `}${formatTime(m.ts)}`)),
        h('span', { class: 'search-text', attrs: { dir: 'auto' } }, ...highlightMatches(plainText(m.text), this.query)),
      ),
    );
  }

  /** Where the panel covers the conversation (narrow screens), it steps aside to show the message. */
  private pick(seq: number): void {
    if (matchMedia(COVERS).matches) {
      this.setShown(false);
    }
    this.options.onPick(seq);
  }

  private setShown(shown: boolean): void {
    this.panel.hidden = !shown;
    this.updateCovered();
  }

  /**
   * Where the panel covers the conversation (narrow screens), the conversation under it is
   * inert: Tab went through its hidden messages and their Reply, React, Edit and Delete buttons
   * before it reached the results.
   */
  private updateCovered(): void {
    const covers = !this.panel.hidden && matchMedia(COVERS).matches;
    for (const el of this.panel.parentElement?.children ?? []) {
      if (el !== this.panel && el instanceof HTMLElement) el.inert = covers;
    }
  }

  private onKeyDown(e: KeyboardEvent): void {
    if (e.key !== 'Escape' || this.panel.hidden) return;
    e.preventDefault();
    e.stopPropagation();
    this.close();
    this.input.focus();
  }
}
