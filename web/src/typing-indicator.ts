import type { TypingNotice } from 'switchboard-client';
import { h, replaceChildren } from './dom.js';

/** A typing notice lasts this long unless renewed (senders renew every 2.5 s while typing). */
const SHOW_MS = 4500;

/** "Alice is typing…" under the messages (not announced: it would drown the conversation). */
export class TypingIndicator {
  readonly element: HTMLElement;
  private readonly typists = new Map<string, { name: string; until: number }>();
  private timer: number | undefined;

  constructor(private me: string) {
    this.element = h('div', 'typing');
  }

  /** This user's member id changed (another token). */
  setMe(member: string): void {
    this.me = member;
  }

  onTyping(notice: TypingNotice): void {
    const key = notice.from.member ?? notice.from.name;
    if (key === this.me) return;
    this.typists.set(key, { name: notice.from.name, until: Date.now() + SHOW_MS });
    this.render();
  }

  /** Someone's message arrived: they stopped typing. */
  stopped(member: string | undefined, name: string): void {
    if (this.typists.delete(member ?? name)) this.render();
  }

  clear(): void {
    this.typists.clear();
    this.render();
  }

  destroy(): void {
    window.clearTimeout(this.timer);
  }

  private render(): void {
    const now = Date.now();
    for (const [key, t] of this.typists) if (t.until <= now) this.typists.delete(key);
    const names = [...this.typists.values()].map((t) => t.name);
    window.clearTimeout(this.timer);
    if (names.length) {
      const next = Math.min(...[...this.typists.values()].map((t) => t.until));
      this.timer = window.setTimeout(() => this.render(), next - now + 50);
    }
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    replaceChildren(this.element, text ? h('span', { class: 'dots', attrs: { 'aria-hidden': 'true' } }, h('i'), h('i'), h('i')) : null, text);
  }
}
