import { h, replaceChildren } from './dom.js';

/** Someone who may be mentioned: a display name and the member id behind it. */
export interface MentionCandidate {
  name: string;
  member: string;
}

/** Suggestions shown at most. */
const MAX_SHOWN = 8;
/** `@` and what follows it up to the caret, at the start of a word (as rich-text.ts reads a mention). */
const TYPED = /(?:^|[^\p{L}\p{N}_@])@([\p{L}\p{N}_.-]{0,64})$/u;
/** A name that reads as a whole mention (`@name`); another (a space in it) is mentioned by member id, which the server counts too. */
const WHOLE = /^[\p{L}\p{N}_](?:[\p{L}\p{N}_.-]{0,62}[\p{L}\p{N}_])?$/u;

let seq = 0;

/**
 * Suggestions of people to mention as `@` is typed in a message box: the names (and member ids)
 * that start with what follows the `@`, up to 8; arrows move, Enter or Tab takes one, Escape
 * closes the list (a click takes one too). The box keeps the focus and says which suggestion is
 * active (`aria-activedescendant`); a live region says how many there are. A name with a space
 * is written as its member id, which mentions the same person.
 */
export class MentionPicker {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly status: HTMLElement;
  private shown: MentionCandidate[] = [];
  private active = 0;
  /** Where the typed `@` is in the box, while the list is open. */
  private at = -1;
  private readonly id = `mention-picker-${++seq}`;

  constructor(
    private readonly input: HTMLTextAreaElement,
    private readonly candidates: () => readonly MentionCandidate[],
  ) {
    this.list = h('ul', { class: 'mention-picker', attrs: { id: this.id, role: 'listbox', 'aria-label': 'People to mention', hidden: true } });
    this.status = h('p', { class: 'visually-hidden', attrs: { role: 'status' } });
    this.element = h('div', 'mention-picker-anchor', this.list, this.status);
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', this.id);
    input.addEventListener('blur', () => this.close());
    input.addEventListener('click', () => this.update());
  }

  get open(): boolean {
    return !this.list.hidden;
  }

  /** The box changed (or its caret moved): the suggestions follow what is typed after an `@`. */
  update(): void {
    const caret = this.input.selectionStart;
    const typed = caret === this.input.selectionEnd ? TYPED.exec(this.input.value.slice(0, caret)) : null;
    if (!typed) return this.close();
    const prefix = (typed[1] ?? '').toLowerCase();
    const seen = new Set<string>();
    this.shown = this.candidates()
      .filter((c) => !seen.has(c.member) && seen.add(c.member) && (c.name.toLowerCase().startsWith(prefix) || c.member.toLowerCase().startsWith(prefix)))
      .sort((a, b) => a.name.localeCompare(b.name))
      .slice(0, MAX_SHOWN);
    if (this.shown.length === 0) return this.close();
    this.at = caret - (typed[1] ?? '').length - 1;
    this.active = 0;
    this.render();
    const count = `${this.shown.length} ${this.shown.length === 1 ? 'person' : 'people'} to mention`;
    if (!this.status.textContent?.startsWith(count)) this.status.textContent = `${count}: up and down to choose, Enter to take`;
  }

  /** Keys while the list is open: true when the key was the picker's (the box must not act on it). */
  onKeyDown(e: KeyboardEvent): boolean {
    if (!this.open || e.isComposing) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : this.shown.length - 1)) % this.shown.length;
      this.render();
    } else if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  close(): void {
    if (!this.open) return;
    this.list.hidden = true;
    this.input.removeAttribute('aria-activedescendant');
    this.status.textContent = '';
    this.at = -1;
  }

  private pick(index: number): void {
    const person = this.shown[index];
    if (!person || this.at < 0) return;
    const token = WHOLE.test(person.name) ? person.name : person.member;
    const caret = this.input.selectionStart;
    const before = this.input.value.slice(0, this.at);
    const after = this.input.value.slice(caret);
    const inserted = `@${token}${after.startsWith(' ') ? '' : ' '}`;
    this.input.value = before + inserted + after;
    const end = before.length + inserted.length;
    this.input.setSelectionRange(end, end);
    this.close();
    this.input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  private render(): void {
    replaceChildren(
      this.list,
      ...this.shown.map((person, i) =>
        h(
          'li',
          {
            class: i === this.active ? 'active' : undefined,
            attrs: { id: `${this.id}-${i}`, role: 'option', 'aria-selected': String(i === this.active) },
            // mousedown, not click: the box keeps the focus (a blur would close the list first).
            on: { mousedown: (e) => { e.preventDefault(); this.pick(i); } },
          },
          h('span', 'mention-picker-name', person.name),
          WHOLE.test(person.name) ? null : h('span', 'mention-picker-member', `@${person.member}`),
        ),
      ),
    );
    this.list.hidden = false;
    this.input.setAttribute('aria-activedescendant', `${this.id}-${this.active}`);
  }
}
