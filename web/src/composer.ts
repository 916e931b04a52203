import { h, icon, replaceChildren } from './dom.js';
import { formatKey } from './format-keys.js';
import { plainText } from './message-format.js';
import { MentionPicker, type MentionCandidate } from './mention-picker.js';

export interface ComposerOptions {
  id: string;
  placeholder: string;
  /** Called with the text (not blank) and the message answered, if any; the box and the reply are cleared. */
  onSend(text: string, replyTo: ReplyTarget | undefined): void;
  /** Called while the user types (throttled). */
  onTyping?(): void;
  /** Largest text in UTF-8 bytes: the server's limit (asked at each send: the app learns it once connected). */
  maxBytes(): number;
  /** People who may be mentioned, suggested as `@` is typed (none: no suggestions). */
  mentionCandidates?(): readonly MentionCandidate[];
}

/** The message a reply answers, as the reply bar shows it. */
export interface ReplyTarget {
  seq: number;
  from: { name: string; member?: string };
  text: string;
}

/** Characters of the answered message shown in the reply bar (the server quotes 200). */
const QUOTE_CHARS = 200;

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
  private readonly replyBar: HTMLElement;
  private replyTo: ReplyTarget | undefined;
  private lastTyping = 0;
  private readonly picker: MentionPicker | undefined;

  constructor(private readonly options: ComposerOptions) {
    this.input = h('textarea', {
      class: 'composer-input',
      attrs: { id: options.id, dir: 'auto', rows: 1, placeholder: options.placeholder, autocomplete: 'off', enterkeyhint: 'send', 'aria-describedby': `${options.id}-hint` },
      on: {
        keydown: (e) => this.onKeyDown(e),
        input: () => this.onInput(),
      },
    });
    this.picker = options.mentionCandidates ? new MentionPicker(this.input, options.mentionCandidates) : undefined;
    this.button = h('button', { class: 'send-button primary', attrs: { type: 'submit' } }, icon('send'), h('span', 'send-label', 'Send'));
    this.error = h('p', { class: 'composer-error', attrs: { role: 'alert', hidden: true } });
    this.replyBar = h('div', { class: 'reply-bar', attrs: { hidden: true, id: `${options.id}-reply` } });
    this.element = h(
      'form',
      { class: 'composer', on: { submit: (e) => { e.preventDefault(); this.submit(); } } },
      h('label', { class: 'visually-hidden', attrs: { for: options.id } }, 'Message'),
      this.replyBar,
      h('div', 'composer-row', this.picker?.element, this.input, this.button),
      this.error,
      h('p', { class: 'composer-hint', attrs: { id: `${options.id}-hint` } }, 'Enter to send · Shift+Enter for a new line · **bold** _italic_ ~~strike~~ `code`'),
    );
  }

  focus(): void {
    this.input.focus();
  }

  setPlaceholder(text: string): void {
    this.input.placeholder = text;
  }

  /** The message the next one answers ("Replying to ann: …" above the box), or none. */
  setReply(target: ReplyTarget | undefined): void {
    this.replyTo = target;
    this.replyBar.hidden = target === undefined;
    this.input.setAttribute('aria-describedby', `${target ? `${this.options.id}-reply ` : ''}${this.options.id}-hint`);
    if (!target) {
      this.replyBar.replaceChildren();
      return;
    }
    const shown = plainText(target.text);
    const quote = [...shown].length > QUOTE_CHARS ? `${[...shown].slice(0, QUOTE_CHARS - 1).join('')}…` : shown;
    replaceChildren(
      this.replyBar,
      h('span', 'reply-bar-text', h('span', 'reply-bar-label', `Replying to ${target.from.name}: `), h('span', { class: 'reply-bar-quote', attrs: { dir: 'auto' } }, quote || '(no text)')),
      h('button', { class: 'icon-only small', attrs: { type: 'button', 'aria-label': 'Cancel reply', title: 'Cancel reply' }, on: { click: () => { this.setReply(undefined); this.input.focus(); } } }, icon('close')),
    );
    this.input.focus();
  }

  /** Puts back a message that was not sent (before what is being typed now), with the message it answered. */
  restore(text: string, replyTo: ReplyTarget | undefined): void {
    const draft = this.input.value.replace(/\s+$/u, '');
    this.input.value = draft ? `${text}\n${draft}` : text;
    this.showError(undefined);
    this.autosize();
    if (replyTo) this.setReply(replyTo);
    this.input.focus();
    this.input.setSelectionRange(text.length, text.length);
  }

  get reply(): ReplyTarget | undefined {
    return this.replyTo;
  }

  private onKeyDown(e: KeyboardEvent): void {
    if (this.picker?.onKeyDown(e) || formatKey(e, this.input)) return;
    if (e.key === 'Escape' && this.replyTo && !e.isComposing) {
      e.preventDefault();
      this.setReply(undefined);
      return;
    }
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.isComposing || e.keyCode === 229) return;
    e.preventDefault();
    this.submit();
  }

  private onInput(): void {
    this.autosize();
    this.picker?.update();
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
    const max = this.options.maxBytes();
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > max) {
      this.showError(`This message is too long (${bytes} bytes; the limit is ${max}).`);
      return;
    }
    this.input.value = '';
    this.picker?.close();
    this.lastTyping = 0;
    this.autosize();
    const replyTo = this.replyTo;
    this.setReply(undefined);
    this.options.onSend(text, replyTo);
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
