import { FoldedMessages } from 'switchboard-client';
import type { Ack, Entry, MessageEntry, ReadReceipt } from 'switchboard-client';
import type { ReplyTarget } from './composer.js';
import { confirmDialog } from './confirm-dialog.js';
import { h, replaceChildren } from './dom.js';
import { TRANSPORT_SHORT, formatDay, formatFull, formatTime, startOfDay } from './format.js';
import { formatKey } from './format-keys.js';
import { renderMessage, type MessageItemContext } from './message-item.js';
import { ReactionPicker } from './reaction-picker.js';
import { routeHref } from './router.js';
import { seenBy, type SeenLine } from './seen-by.js';

/** How a message not yet stored is shown. */
export type PendingState = 'sending' | 'queued' | 'failed';

export interface MessageListOptions {
  /** This user's member id: their messages are set apart. */
  me: string;
  room: string;
  /** Asked for when the user scrolls to the top (or presses "Load older messages"). */
  onLoadOlder(): void;
  /** "Retry" on a message that failed. */
  onRetry(clientId: string): void;
  /**
   * "Edit" (`edit` true: its text goes back to the message box) or "Discard" on a message that
   * failed; it is no longer in the list.
   */
  onTakeBack(text: string, replyTo: ReplyTarget | undefined, edit: boolean): void;
  /** Names a mention of this user may use (display name, member id). */
  mentionNames(): readonly string[];
  /** The user may edit and delete `message` (its author, or a room admin). */
  mayAmend(message: MessageEntry): boolean;
  /** The user may write here (reply, react). */
  mayWrite(): boolean;
  /** "Reply" on a message. */
  onReply(message: MessageEntry): void;
  /** Saves an edit; rejects with what to tell the user. */
  onEdit(seq: number, text: string): Promise<void>;
  /** Deletes (after the user confirmed); rejects with what to tell the user. */
  onDelete(seq: number): Promise<void>;
  /** Adds (`on`) or takes back a reaction. */
  onReact(seq: number, emoji: string, on: boolean): void;
  /** A quoted message was asked for that is not loaded: load older history until it is (or give up). */
  onFind(seq: number): void;
  /** The newest message came into view (or the list was scrolled to it). */
  onSeenNewest(): void;
}

/** Names in "Seen by" before "+N". */
const SEEN_NAMES = 3;
/** How long a message asked for (quote, search result) stays highlighted. */
const HIGHLIGHT_MS = 2500;

/** Messages from one sender less than this apart are grouped under one name. */
const GROUP_MS = 5 * 60_000;
/** Within this distance of the bottom the list follows new messages. */
const STICK_PX = 80;
/**
 * Lines (messages, join and leave lines, notes) kept while the list follows the newest: past
 * MAX_SHOWN + TRIM_BATCH the oldest go, down to MAX_SHOWN, and scrolling up loads them again as
 * history. A tab left open in a busy room stays as light as a fresh one (each line shown costs
 * every later layout and the browser's own selector scans).
 */
export const MAX_SHOWN = 500;
const TRIM_BATCH = 100;

/**
 * The message log of one room, in seq order whatever order entries arrive in (history pages,
 * live entries, publish acks). Each seq is shown once; messages sent from here show as pending
 * until stored, then take their place by seq. Edits, deletes and reactions are folded into the
 * message they amend (FoldedMessages of the SDK) and never shown as lines of their own, so a late
 * joiner and a live viewer see the same thing. Text is set with textContent only.
 */
export class MessageList {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly pendingList: HTMLOListElement;
  private readonly top: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly bySeq = new Map<number, HTMLLIElement>();
  private readonly pending = new Map<string, HTMLLIElement>();
  /** The message each pending reply answers. */
  private readonly pendingReplies = new Map<string, ReplyTarget>();
  private historyState: 'idle' | 'loading' | 'more' | 'start' | 'reset' | 'error' = 'idle';
  private observer: IntersectionObserver | undefined;
  private folded = new FoldedMessages();
  private readonly picker = new ReactionPicker();
  /** The message being edited here, and its editor. */
  private editing: { seq: number; form: HTMLElement } | undefined;
  /** Read positions of other members (by member). */
  private readers = new Map<string, ReadReceipt>();
  /** The "Seen by" line shown, if one is (updateSeen: found without a query of the whole list at each message). */
  private seenNote: HTMLElement | undefined;
  private readonly item: MessageItemContext;
  /** The animation frame that scrolls to the newest line (scrollToBottom), 0 when none is asked for. */
  private bottomFrame = 0;

  constructor(private readonly options: MessageListOptions) {
    this.item = {
      me: options.me,
      mentionNames: () => options.mentionNames(),
      mayAmend: (m) => options.mayAmend(m),
      mayWrite: () => options.mayWrite(),
      onReply: (m) => options.onReply(m),
      onPickReaction: (m, button) => this.picker.open(button, this.element, (emoji) => {
        const mine = this.folded.get(m.seq)?.reactions?.find((r) => r.emoji === emoji)?.by.some((b) => b.member === options.me) ?? false;
        options.onReact(m.seq, emoji, !mine);
      }),
      onToggleReaction: (m, emoji, on) => options.onReact(m.seq, emoji, on),
      onEdit: (m) => this.startEdit(m.seq),
      onDelete: (m) => void this.askDelete(m.seq),
      onJump: (seq) => this.showMessage(seq),
      linkTo: (seq) => `${location.origin}${location.pathname}${routeHref({ view: 'chat', room: options.room, seq })}`,
    };
    this.list = h('ol', { class: 'entries', attrs: { 'aria-label': `Messages in ${options.room}` } });
    this.pendingList = h('ol', { class: 'entries pending-entries', attrs: { 'aria-label': 'Messages being sent' } });
    this.top = h('div', 'history-status');
    this.jump = h('button', { class: 'jump', attrs: { type: 'button', hidden: true }, on: { click: () => this.scrollToBottom(true) } }, 'New messages ↓');
    this.element = h(
      'div',
      { class: 'messages', attrs: { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: 0, 'aria-label': `Conversation in ${options.room}` }, on: { scroll: () => this.onScroll() } },
      this.top,
      this.list,
      this.pendingList,
      this.jump,
    );
    this.observer = new IntersectionObserver((records) => {
      if (records.some((r) => r.isIntersecting) && this.historyState === 'more') this.options.onLoadOlder();
    }, { root: this.element, rootMargin: '200px 0px 0px 0px' });
    this.observer.observe(this.top);
    this.renderTop();
  }

  /** The oldest seq shown (the `before` of the next history page). */
  get firstSeq(): number | undefined {
    let first = this.list.firstElementChild as HTMLElement | null;
    while (first?.dataset.note) first = first.nextElementSibling as HTMLElement | null;
    return first ? Number(first.dataset.seq) : undefined;
  }

  get lastSeq(): number | undefined {
    let last = this.list.lastElementChild as HTMLElement | null;
    while (last?.dataset.note) last = last.previousElementSibling as HTMLElement | null;
    return last ? Number(last.dataset.seq) : undefined;
  }

  /** The seq of the newest message shown (not a presence line). */
  get newestMessageSeq(): number | undefined {
    let last = this.list.lastElementChild as HTMLElement | null;
    while (last && !last.classList.contains('msg')) last = last.previousElementSibling as HTMLElement | null;
    return last ? Number(last.dataset.seq) : undefined;
  }

  /** The message as folded so far, when loaded. */
  message(seq: number): MessageEntry | undefined {
    return this.folded.get(seq);
  }

  /**
   * A line that is no entry of the log ("ann and bob joined", from presence notices), placed
   * after the entries shown now; entries that come later go after it.
   */
  addNote(text: string): void {
    const follow = this.isNearBottom();
    const ts = Date.now();
    const time = h('time', { attrs: { datetime: new Date(ts).toISOString(), title: formatFull(ts) } }, formatTime(ts));
    const li = h('li', { class: 'event', attrs: { 'data-seq': this.lastSeq ?? 0, 'data-ts': ts, 'data-note': '1' } }, h('span', 'event-text', text), ' ', time);
    this.list.append(li);
    this.restyle(li);
    if (follow) this.scrollToBottom(false);
  }

  /**
   * "New messages" over the first message after `seq` (the reader's position as the room
   * opened) that another wrote, and that message in view when it is above the screen: the
   * reader starts where they left off. The line stays while the room is shown.
   */
  markFirstUnread(seq: number): void {
    for (let li = this.list.firstElementChild; li; li = li.nextElementSibling) {
      if (!(li instanceof HTMLElement) || !li.classList.contains('msg') || Number(li.dataset.seq) <= seq || li.dataset.sender === this.options.me) continue;
      const follow = this.isNearBottom();
      li.classList.add('first-unread');
      // The line takes room: a reader at the newest stays there (all unread on screen), unless
      // the first unread is then above the screen.
      if (li.getBoundingClientRect().top < this.element.getBoundingClientRect().top) li.scrollIntoView({ block: 'start' });
      else if (follow) this.scrollToBottom(false);
      return;
    }
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Adds one entry; false when nothing new is shown (its seq is shown already, or it is an
   * amendment: then the message it amends is shown again, folded). `provisional`: made from an ack.
   */
  add(entry: Entry, provisional = false): boolean {
    if (entry.type === 'edit' || entry.type === 'delete' || entry.type === 'reaction') {
      const changed = this.folded.apply(entry);
      if (changed) this.rerender(changed.seq);
      // A delete also blanks the quotes of the replies to it.
      if (entry.type === 'delete') for (const li of this.list.querySelectorAll<HTMLElement>(`li.msg[data-reply-to="${entry.target}"]`)) this.rerender(Number(li.dataset.seq));
      return false;
    }
    if (entry.type === 'message' && entry.clientId) this.resolvePending(entry.clientId);
    // A message from an ack is shown as is until its entry comes (the SDK folds only what came from the server).
    const shownAs = entry.type === 'message' && !provisional ? (this.folded.apply(entry) ?? this.folded.get(entry.seq) ?? entry) : entry;
    const shown = this.bySeq.get(entry.seq);
    if (shown) {
      // Shown from its ack: the entry itself says how it came (transport) and replaces it.
      if (shown.dataset.provisional && !provisional) this.rerender(entry.seq, shownAs);
      return false;
    }
    const follow = this.isNearBottom();
    const li = this.renderEntry(shownAs);
    if (provisional) li.dataset.provisional = '1';
    this.insertBySeq(li, entry.seq);
    if (entry.type === 'message') this.updateSeen();
    if (follow || entry.from.member === this.options.me) {
      this.trimOldest();
      this.scrollToBottom(false);
    } else if (entry.type === 'message' && li === this.list.lastElementChild) this.jump.hidden = false;
    return true;
  }

  /** Adds a page of older entries (ascending) without moving what the user is reading. */
  addOlder(entries: Entry[], more: boolean): void {
    const fromBottom = this.element.scrollHeight - this.element.scrollTop;
    const wasEmpty = this.bySeq.size === 0;
    this.folded.load(entries);
    for (const entry of entries) {
      if (entry.type === 'edit' || entry.type === 'delete' || entry.type === 'reaction') continue;
      const shownAs = entry.type === 'message' ? (this.folded.get(entry.seq) ?? entry) : entry;
      if (this.bySeq.has(entry.seq)) {
        // A page may fold in more than what is shown (amendments of messages not loaded when they came).
        if (entry.type === 'message') this.rerender(entry.seq, shownAs);
        continue;
      }
      if (entry.type === 'message' && entry.clientId) this.resolvePending(entry.clientId);
      this.insertBySeq(this.renderEntry(shownAs), entry.seq);
    }
    this.updateSeen();
    this.setHistory(more ? 'more' : 'start');
    if (wasEmpty) this.scrollToBottom(false);
    else this.element.scrollTop = this.element.scrollHeight - fromBottom;
  }

  /** Whether message `seq` is loaded. */
  has(seq: number): boolean {
    return this.bySeq.get(seq)?.classList.contains('msg') ?? false;
  }

  /**
   * Scrolls to message `seq` and highlights it (focus goes there too, for keyboards); asks for
   * older history (onFind) when it is not loaded yet. False when it is not loaded.
   */
  showMessage(seq: number): boolean {
    const li = this.bySeq.get(seq);
    if (!li || !li.classList.contains('msg')) {
      this.options.onFind(seq);
      return false;
    }
    li.scrollIntoView({ block: 'center', behavior: 'instant' });
    for (const other of this.list.querySelectorAll('.msg.highlight')) other.classList.remove('highlight');
    li.classList.add('highlight');
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    window.setTimeout(() => li.classList.remove('highlight'), HIGHLIGHT_MS);
    return true;
  }

  /** Read positions of the room's members (from readState or receipt notices): "Seen by" follows. */
  setReaders(receipts: Iterable<ReadReceipt>): void {
    for (const r of receipts) {
      if (r.member === this.options.me) continue;
      const known = this.readers.get(r.member);
      if (!known || known.seq < r.seq || known.name !== r.name) this.readers.set(r.member, known && known.seq > r.seq ? { ...r, seq: known.seq } : r);
    }
    this.updateSeen();
  }

  /**
   * "Seen by ann, bob +2" under the newest message others have read (whoever read it or further),
   * only one such line in the list.
   */
  private updateSeen(): void {
    this.seenNote?.remove();
    this.seenNote = undefined;
    const found = seenBy(this.linesNewestFirst(), [...this.readers.values()]);
    if (!found) return;
    const { line, names } = found;
    const shown = names.slice(0, SEEN_NAMES).join(', ');
    const more = names.length - SEEN_NAMES;
    this.seenNote = h('p', { class: 'seen-by', attrs: { title: `Seen by ${names.join(', ')}` } }, `Seen by ${shown}${more > 0 ? ` +${more}` : ''}`);
    (line.li.querySelector('.msg-body') ?? line.li).append(this.seenNote);
  }

  /** The message lines of the list, newest first, as "Seen by" reads them. */
  private *linesNewestFirst(): Generator<SeenLine & { li: HTMLElement }> {
    for (let li = this.list.lastElementChild as HTMLElement | null; li; li = li.previousElementSibling as HTMLElement | null) {
      if (li.classList.contains('msg')) yield { seq: Number(li.dataset.seq), sender: li.dataset.sender ?? '', li };
    }
  }

  /** Shows message `seq` again from its folded state (or `as`), keeping focus where it was. */
  private rerender(seq: number, as?: Entry): void {
    const old = this.bySeq.get(seq);
    const entry = as ?? this.folded.get(seq);
    if (!old || !entry) return;
    if (this.editing?.seq === seq) {
      // Being edited here: keep the editor, unless the message is gone.
      if (entry.type !== 'message' || !entry.deleted) return;
      this.editing = undefined;
    }
    const focusKey = old.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.focusKey : undefined;
    const li = this.renderEntry(entry);
    if (old.classList.contains('highlight')) li.classList.add('highlight');
    if (old.classList.contains('first-unread')) li.classList.add('first-unread');
    old.replaceWith(li);
    this.bySeq.set(seq, li);
    // Its sender, transport or time may differ from the copy it replaces (one shown from an ack
    // names the transport the app expects): the next message's grouping follows.
    this.restyleWithNext(li);
    this.updateSeen();
    if (focusKey) (li.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focusKey)}"]`) ?? li.querySelector<HTMLElement>('button'))?.focus();
  }

  /** Inline editor: a textbox "Edit message"; Enter or Save saves, Escape or Cancel cancels. */
  private startEdit(seq: number): void {
    if (this.editing) this.stopEdit(false);
    const li = this.bySeq.get(seq);
    const message = this.folded.get(seq);
    const text = li?.querySelector('.text');
    if (!li || !message || !text) return;
    const input = h('textarea', { class: 'edit-input', attrs: { dir: 'auto', 'aria-label': 'Edit message', rows: Math.min(8, message.text.split('\n').length) } });
    input.value = message.text;
    const error = h('p', { class: 'edit-error', attrs: { role: 'alert', hidden: true } });
    const save = h('button', { class: 'small primary', attrs: { type: 'submit' } }, 'Save');
    const form = h(
      'form',
      {
        class: 'edit-form',
        on: {
          submit: (e) => {
            e.preventDefault();
            const value = input.value.replace(/\s+$/u, '');
            if (!value || value === message.text) {
              this.stopEdit(true);
              return;
            }
            save.disabled = true;
            error.hidden = true;
            this.options.onEdit(seq, value).then(
              () => this.stopEdit(true),
              (err: unknown) => {
                save.disabled = false;
                error.hidden = false;
                error.textContent = `Not saved: ${err instanceof Error ? err.message : String(err)}`;
              },
            );
          },
          keydown: (e) => {
            if (e.target === input && formatKey(e, input)) return;
            if (e.key === 'Escape') {
              e.preventDefault();
              e.stopPropagation();
              this.stopEdit(true);
            } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.target === input) {
              e.preventDefault();
              form.requestSubmit();
            }
          },
        },
      },
      input,
      error,
      h('div', 'edit-actions', h('span', 'edit-hint', 'Enter to save · Escape to cancel'), h('button', { class: 'small', attrs: { type: 'button' }, on: { click: () => this.stopEdit(true) } }, 'Cancel'), save),
    );
    li.classList.add('editing');
    text.replaceWith(form);
    this.editing = { seq, form };
    // Focus alone scrolls only the box into view: Save, Cancel and the hint under it stayed
    // below the fold for the newest message in a short window (a phone, 200 % zoom).
    input.focus({ preventScroll: true });
    input.setSelectionRange(input.value.length, input.value.length);
    (form.closest('.bubble') ?? form).scrollIntoView({ block: 'nearest', behavior: 'instant' });
  }

  private stopEdit(refocus: boolean): void {
    const editing = this.editing;
    if (!editing) return;
    this.editing = undefined;
    this.rerender(editing.seq);
    if (refocus) this.bySeq.get(editing.seq)?.querySelector<HTMLElement>('[data-focus-key="action:edit"]')?.focus();
  }

  private async askDelete(seq: number): Promise<void> {
    const yes = await confirmDialog({ title: 'Delete message?', text: 'Its text is erased for everyone, from the server too. This cannot be undone.', confirm: 'Delete', danger: true });
    if (!yes) return;
    try {
      await this.options.onDelete(seq);
    } catch (err) {
      const li = this.bySeq.get(seq);
      li?.querySelector('.amend-error')?.remove();
      li?.querySelector('.bubble')?.append(h('p', { class: 'amend-error', attrs: { role: 'alert' } }, `Not deleted: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  setHistory(state: 'idle' | 'loading' | 'more' | 'start' | 'reset' | 'error'): void {
    this.historyState = state;
    this.renderTop();
  }

  /** Shows a message being sent, until its entry (or ack) arrives. */
  addPending(clientId: string, text: string, state: PendingState, replyTo?: ReplyTarget): void {
    const li = h(
      'li',
      { class: 'msg own pending', attrs: { 'data-client-id': clientId } },
      h('div', 'bubble', replyTo ? h('p', 'quote', h('span', 'quote-name', replyTo.from.name), h('span', { class: 'quote-text', attrs: { dir: 'auto' } }, replyTo.text)) : null, h('p', { class: 'text', attrs: { dir: 'auto' } }, text), h('div', 'meta pending-meta')),
    );
    this.pending.set(clientId, li);
    if (replyTo) this.pendingReplies.set(clientId, replyTo);
    this.setPendingState(clientId, state);
    this.pendingList.append(li);
    this.scrollToBottom(false);
  }

  /**
   * A failed message says why, and offers Edit and Discard (it would otherwise stay under every
   * later message), and Retry unless `retryable` is false (the server would refuse it again).
   */
  setPendingState(clientId: string, state: PendingState, reason?: string, retryable = true): void {
    const li = this.pending.get(clientId);
    const meta = li?.querySelector('.pending-meta');
    if (!li || !meta) return;
    // A refusal's reason and actions make the bubble taller: they stay in view at the bottom.
    const stick = this.isNearBottom();
    li.dataset.state = state;
    if (stick) queueMicrotask(() => this.scrollToBottom(false));
    if (state === 'failed') {
      const action = (label: string, run: () => void): HTMLButtonElement => h('button', { class: 'link-button', attrs: { type: 'button' }, on: { click: run } }, label);
      const takeBack = (edit: boolean): void => {
        const text = this.pendingText(clientId);
        const replyTo = this.pendingReplies.get(clientId);
        this.resolvePending(clientId);
        if (text !== undefined) this.options.onTakeBack(text, replyTo, edit);
      };
      replaceChildren(
        meta,
        h('span', { class: 'failed', attrs: { role: 'status' } }, `Not sent${reason ? `: ${reason}` : ''}`),
        retryable ? action('Retry', () => this.options.onRetry(clientId)) : null,
        action('Edit', () => takeBack(true)),
        action('Discard', () => takeBack(false)),
      );
    } else {
      replaceChildren(meta, h('span', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }), state === 'queued' ? 'Queued: sends when the connection is back' : 'Sending…');
    }
  }

  /** Every pending message's state follows the connection (queued while it is down). */
  setAllPending(state: 'sending' | 'queued'): void {
    for (const [clientId, li] of this.pending) if (li.dataset.state !== 'failed') this.setPendingState(clientId, state);
  }

  /** The message a pending reply answers. */
  pendingReply(clientId: string): ReplyTarget | undefined {
    return this.pendingReplies.get(clientId);
  }

  pendingText(clientId: string): string | undefined {
    return this.pending.get(clientId)?.querySelector('.text')?.textContent ?? undefined;
  }

  /** The server stored a message sent from here: show it in place now (the entry may come later). */
  confirm(clientId: string, ack: Ack, from: Entry['from']): void {
    const text = this.pendingText(clientId);
    if (text === undefined) return;
    const r = this.pendingReplies.get(clientId);
    // The quote as the server makes it (the first 200 characters), until the entry itself comes.
    const reply = r ? { replyTo: r.seq, reply: { seq: r.seq, from: r.from, text: [...r.text].slice(0, 200).join('') } } : {};
    this.add({ type: 'message', room: ack.room, seq: ack.seq, ts: ack.ts, from, text, clientId, ...reply }, true);
  }

  /** The history was reset (see the SDK's `reset` event): what follows starts from its oldest entry. */
  clear(): void {
    this.bySeq.clear();
    this.folded = new FoldedMessages();
    this.editing = undefined;
    this.list.replaceChildren();
    this.setHistory('reset');
  }

  destroy(): void {
    this.picker.close(false);
    this.observer?.disconnect();
    this.observer = undefined;
    cancelAnimationFrame(this.bottomFrame);
    this.bottomFrame = 0;
  }

  /**
   * Shows the newest line: a smooth scroll at once (the "New messages" button), else an instant
   * one in the next animation frame, once for all the lines added until then. At once, it read
   * the list's height after each line was added, which made the browser lay out the whole list
   * again there and then, for every line of a burst (600 messages posted as fast as they go:
   * the last shown 310-360 ms after it was posted, 79-93 ms in the frame); in the frame, that
   * layout is the one the frame makes anyway. Until the frame the list counts as at the bottom
   * (isNearBottom), as it will be.
   */
  scrollToBottom(smooth: boolean): void {
    if (!this.jump.hidden) this.jump.hidden = true;
    if (smooth) {
      cancelAnimationFrame(this.bottomFrame);
      this.bottomFrame = 0;
      // An explicit 'smooth' overrides the stylesheet's reduced-motion rule: ask here.
      const glide = !matchMedia('(prefers-reduced-motion: reduce)').matches;
      this.element.scrollTo({ top: this.element.scrollHeight, behavior: glide ? 'smooth' : 'instant' });
      return;
    }
    if (this.bottomFrame !== 0) return;
    this.bottomFrame = requestAnimationFrame(() => {
      this.bottomFrame = 0;
      this.element.scrollTo({ top: this.element.scrollHeight, behavior: 'instant' });
    });
  }

  private resolvePending(clientId: string): void {
    const li = this.pending.get(clientId);
    if (!li) return;
    li.remove();
    this.pending.delete(clientId);
    this.pendingReplies.delete(clientId);
  }

  /** The newest message is in view (within a few pixels of the bottom). */
  isNearBottom(): boolean {
    // A scroll to the bottom is on its way (scrollToBottom): no need to lay the list out to know.
    if (this.bottomFrame !== 0) return true;
    const el = this.element;
    return el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
  }

  private onScroll(): void {
    if (this.picker.isOpen) this.picker.close(false);
    if (this.isNearBottom()) {
      if (!this.jump.hidden) this.jump.hidden = true;
      this.options.onSeenNewest();
    }
  }

  private renderTop(): void {
    const state = this.historyState;
    if (state === 'loading') replaceChildren(this.top, h('span', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }), 'Loading older messages…');
    else if (state === 'more') replaceChildren(this.top, h('button', { class: 'link-button', attrs: { type: 'button' }, on: { click: () => this.options.onLoadOlder() } }, 'Load older messages'));
    else if (state === 'start') replaceChildren(this.top, h('span', 'room-start', `This is the start of #${this.options.room}.`));
    else if (state === 'reset') replaceChildren(this.top, h('span', 'room-start', 'The server started this room’s history again: earlier messages are gone.'));
    else if (state === 'error') replaceChildren(this.top, 'Could not load older messages. ', h('button', { class: 'link-button', attrs: { type: 'button' }, on: { click: () => this.options.onLoadOlder() } }, 'Try again'));
    else replaceChildren(this.top);
  }

  /**
   * Past MAX_SHOWN + TRIM_BATCH lines, the oldest go (down to MAX_SHOWN) and the top offers older
   * history again; called only while the list follows the newest. It stops at a message being
   * edited or holding the focus, and waits while a history page is on its way (the page would
   * leave a hole: it was asked for before the oldest line shown then).
   */
  private trimOldest(): void {
    if (this.list.childElementCount <= MAX_SHOWN + TRIM_BATCH || this.historyState === 'loading') return;
    let drop = this.list.childElementCount - MAX_SHOWN;
    let trimmed = false;
    let lastSeq = 0;
    for (let li = this.list.firstElementChild as HTMLLIElement | null; li && drop > 0; drop--) {
      const seq = Number(li.dataset.seq);
      if (this.editing?.seq === seq || li.contains(document.activeElement)) break;
      const next = li.nextElementSibling as HTMLLIElement | null;
      if (this.bySeq.get(seq) === li) this.bySeq.delete(seq);
      li.remove();
      trimmed = true;
      if (seq > lastSeq) lastSeq = seq;
      li = next;
    }
    if (!trimmed) return;
    // The folded copies of the lines gone go too: the page holds what it shows, whatever the session's length.
    this.folded.forgetThrough(lastSeq);
    const first = this.list.firstElementChild;
    if (first instanceof HTMLElement) this.restyle(first);
    this.setHistory('more');
  }

  private insertBySeq(li: HTMLLIElement, seq: number): void {
    this.bySeq.set(seq, li);
    // Live entries come last almost always: walk from the end.
    let after = this.list.lastElementChild as HTMLElement | null;
    while (after && Number(after.dataset.seq) > seq) after = after.previousElementSibling as HTMLElement | null;
    if (after) after.after(li);
    else this.list.prepend(li);
    this.restyleWithNext(li);
  }

  /** restyle `li`, and the entry after it, whose grouping depends on it. */
  private restyleWithNext(li: HTMLElement): void {
    this.restyle(li);
    const next = li.nextElementSibling;
    if (next instanceof HTMLElement) this.restyle(next);
  }

  /**
   * Groups a message under the previous one from the same sender over the same transport (a
   * grouped message shows no header, so a switch of transport starts a group whose header says
   * the new one), and marks a new day.
   */
  private restyle(li: HTMLElement): void {
    const prev = li.previousElementSibling as HTMLElement | null;
    const ts = Number(li.dataset.ts);
    const newDay = !prev || startOfDay(Number(prev.dataset.ts)) !== startOfDay(ts);
    li.classList.toggle('new-day', newDay);
    if (newDay) li.dataset.day = formatDay(ts);
    else delete li.dataset.day;
    const continued = !newDay && !!prev && li.classList.contains('msg') && prev.classList.contains('msg') && prev.dataset.sender === li.dataset.sender && prev.dataset.via === li.dataset.via && ts - Number(prev.dataset.ts) < GROUP_MS;
    li.classList.toggle('continued', continued);
  }

  private renderEntry(entry: Entry): HTMLLIElement {
    if (entry.type === 'message') return renderMessage(entry, this.item);
    const sender = entry.from.member ?? `name:${entry.from.name}`;
    const attrs = { 'data-seq': entry.seq, 'data-ts': entry.ts, 'data-sender': sender };
    const time = h('time', { attrs: { datetime: new Date(entry.ts).toISOString(), title: formatFull(entry.ts) } }, formatTime(entry.ts));
    const via = entry.from.transport ? TRANSPORT_SHORT[entry.from.transport] : undefined;
    // Amendments never come here (they are folded); presence entries remain.
    const verb = entry.type === 'join' ? 'joined' : 'left';
    return h('li', { class: 'event', attrs }, h('span', 'event-text', `${entry.from.name} ${verb}`, via && entry.type === 'join' ? ` via ${via}` : ''), ' ', time);
  }
}
