import { h, icon } from './dom.js';

export interface ComposerOptions {
  id: string;
  placeholder: string;
  /** Called with the text (not blank); the box is cleared. */
  onSend(text: string): void;
  /** Called while the user types (throttled). */
  onTyping?(): void;
  /** Largest text in UTF-8 bytes (the server's limit). */
  maxBytes?: number;
}

/** Tell the room at most this often that we are typing. */
const TYPING_EVERY_MS = 2500;
const MAX_HEIGHT_PX = 200;

/**
 * The message box: a textarea labelled "Message" and a "Send" button. Enter sends, Shift+Enter
 * adds a line; Enter that ends an IME composition (Korean, Japanese, Chinese input) does not.
 */
export class Composer {
  readonly element: HTMLFormElement;
  readonly input: HTMLTextAreaElement;
  private readonly button: HTMLButtonElement;
  private readonly error: HTMLElement;
  private lastTyping = 0;

  constructor(private readonly options: ComposerOptions) {
    this.input = h('textarea', {
      class: 'composer-input',
      attrs: { id: options.id, rows: 1, placeholder: options.placeholder, autocomplete: 'off', enterkeyhint: 'send', 'aria-describedby': `${options.id}-hint` },
      on: {
        keydown: (e) => this.onKeyDown(e),
        input: () => this.onInput(),
      },
    });
    this.button = h('button', { class: 'send-button primary', attrs: { type: 'submit' } }, icon('send'), h('span', 'send-label', 'Send'));
    this.error = h('p', { class: 'composer-error', attrs: { role: 'alert', hidden: true } });
    this.element = h(
      'form',
      { class: 'composer', on: { submit: (e) => { e.preventDefault(); this.submit(); } } },
      h('label', { class: 'visually-hidden', attrs: { for: options.id } }, 'Message'),
      h('div', 'composer-row', this.input, this.button),
      this.error,
      h('p', { class: 'composer-hint', attrs: { id: `${options.id}-hint` } }, 'Enter to send · Shift+Enter for a new line'),
    );
  }

  focus(): void {
    this.input.focus();
  }

  setPlaceholder(text: string): void {
    this.input.placeholder = text;
  }

  private onKeyDown(e: KeyboardEvent): void {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    this.submit();
  }

  private onInput(): void {
    this.autosize();
    this.showError(undefined);
    const now = Date.now();
    if (this.input.value.trim() && now - this.lastTyping > TYPING_EVERY_MS) {
      this.lastTyping = now;
      this.options.onTyping?.();
    }
  }

  private submit(): void {
    // Trailing blank lines are a slip of Shift+Enter; leading spaces may be meant (code).
    const text = this.input.value.replace(/\s+$/u, '');
    if (!text) {
      this.input.focus();
      return;
    }
    const max = this.options.maxBytes ?? 64 * 1024;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > max) {
      this.showError(`This message is too long (${bytes} bytes; the limit is ${max}).`);
      return;
    }
    this.input.value = '';
    this.lastTyping = 0;
    this.autosize();
    this.options.onSend(text);
    this.input.focus();
  }

  private showError(text: string | undefined): void {
    this.error.hidden = text === undefined;
    this.error.textContent = text ?? '';
  }

  private autosize(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, MAX_HEIGHT_PX)}px`;
  }
}
