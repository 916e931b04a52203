import { h } from './dom.js';

/** The emoji offered by the picker (the server takes any single emoji). */
export const REACTION_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '👀', '🙏'] as const;

/** Names read by screen readers and shown as tooltips. */
const NAMES: Record<(typeof REACTION_EMOJI)[number], string> = {
  '👍': 'thumbs up',
  '❤️': 'heart',
  '😂': 'laughing',
  '🎉': 'party',
  '😮': 'surprised',
  '😢': 'sad',
  '👀': 'eyes',
  '🙏': 'thanks',
};

/**
 * A small popup of emoji buttons, one at a time, anchored under the "React" button that opened
 * it. Arrow keys move between emoji; Escape, a click elsewhere, or a pick close it, and focus goes
 * back to the button that opened it.
 */
export class ReactionPicker {
  readonly element: HTMLElement;
  private anchor: HTMLElement | undefined;
  private onPick: ((emoji: string) => void) | undefined;

  constructor() {
    this.element = h(
      'div',
      { class: 'reaction-picker', attrs: { role: 'group', 'aria-label': 'Pick a reaction', hidden: true }, on: { keydown: (e) => this.onKeyDown(e), focusout: (e) => this.onFocusOut(e) } },
      ...REACTION_EMOJI.map((emoji) =>
        h('button', { class: 'picker-emoji', attrs: { type: 'button', 'aria-label': `${emoji} ${NAMES[emoji]}`, title: NAMES[emoji], 'data-emoji': emoji }, on: { click: () => this.pick(emoji) } }, emoji),
      ),
    );
    document.addEventListener('pointerdown', (e) => {
      if (!this.element.hidden && !this.element.contains(e.target as Node) && e.target !== this.anchor) this.close(false);
    });
  }

  get isOpen(): boolean {
    return !this.element.hidden;
  }

  /** Opens under `anchor` (inside `container`, which must be positioned); `onPick` gets the emoji chosen. */
  open(anchor: HTMLElement, container: HTMLElement, onPick: (emoji: string) => void): void {
    if (this.isOpen && this.anchor === anchor) {
      this.close(true);
      return;
    }
    this.anchor = anchor;
    this.onPick = onPick;
    if (this.element.parentElement !== container) container.append(this.element);
    this.element.hidden = false;
    const box = container.getBoundingClientRect();
    const at = anchor.getBoundingClientRect();
    const width = this.element.offsetWidth;
    // Away from the message's text: the actions sit left of one's own bubble and right of others'.
    const own = anchor.closest('.msg')?.classList.contains('own') ?? false;
    const wanted = own ? at.right - box.left - width : at.left - box.left;
    const left = Math.max(8, Math.min(wanted, box.width - width - 8));
    // Below the button, or above it when there is no room below.
    const below = at.bottom - box.top + container.scrollTop + 4;
    const fitsBelow = at.bottom + this.element.offsetHeight + 8 < box.bottom;
    const top = fitsBelow ? below : at.top - box.top + container.scrollTop - this.element.offsetHeight - 4;
    this.element.style.left = `${left}px`;
    this.element.style.top = `${Math.max(0, top)}px`;
    this.element.querySelector<HTMLButtonElement>('button')?.focus();
  }

  /** Closes; `refocus`: focus goes back to the button that opened it. */
  close(refocus: boolean): void {
    if (!this.isOpen) return;
    this.element.hidden = true;
    const anchor = this.anchor;
    this.anchor = undefined;
    this.onPick = undefined;
    if (refocus && anchor?.isConnected) anchor.focus();
  }

  private pick(emoji: string): void {
    const onPick = this.onPick;
    this.close(true);
    onPick?.(emoji);
  }

  private onKeyDown(e: KeyboardEvent): void {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      this.close(true);
      return;
    }
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft' && e.key !== 'Home' && e.key !== 'End') return;
    const buttons = [...this.element.querySelectorAll<HTMLButtonElement>('button')];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1 : (at + (e.key === 'ArrowRight' ? 1 : -1) + buttons.length) % buttons.length;
    e.preventDefault();
    buttons[next]?.focus();
  }

  private onFocusOut(e: FocusEvent): void {
    const to = e.relatedTarget as Node | null;
    if (to && !this.element.contains(to)) this.close(false);
  }
}
