import type { Ack, Entry } from 'switchboard-client';
import { h, replaceChildren } from './dom.js';
import { messageBody } from './message-body.js';
import { TRANSPORT_SHORT, formatDay, formatFull, formatTime, hueOf, initialOf, startOfDay } from './format.js';

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
}

/** Messages from one sender less than this apart are grouped under one name. */
const GROUP_MS = 5 * 60_000;
/** Within this distance of the bottom the list follows new messages. */
const STICK_PX = 80;

/**
 * The message log of one room, in seq order whatever order entries arrive in (history pages,
 * live entries, publish acks). Each seq is shown once; messages sent from here show as pending
 * until stored, then take their place by seq. Text is set with textContent only.
 */
export class MessageList {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly pendingList: HTMLOListElement;
  private readonly top: HTMLElement;
  private readonly jump: HTMLButtonElement;
  private readonly bySeq = new Map<number, HTMLLIElement>();
  private readonly pending = new Map<string, HTMLLIElement>();
  private historyState: 'idle' | 'loading' | 'more' | 'start' | 'reset' | 'error' = 'idle';
  private observer: IntersectionObserver | undefined;

  constructor(private readonly options: MessageListOptions) {
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

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Adds one entry; false when its seq is shown already. `provisional`: made from an ack. */
  add(entry: Entry, provisional = false): boolean {
    if (entry.type === 'message' && entry.clientId) this.resolvePending(entry.clientId);
    const shown = this.bySeq.get(entry.seq);
    if (shown) {
      // Shown from its ack: the entry itself says how it came (transport) and replaces it.
      if (shown.dataset.provisional && !provisional) {
        const li = this.renderEntry(entry);
        shown.replaceWith(li);
        this.bySeq.set(entry.seq, li);
        this.restyle(li);
      }
      return false;
    }
    const follow = this.isNearBottom();
    const li = this.renderEntry(entry);
    if (provisional) li.dataset.provisional = '1';
    this.insertBySeq(li, entry.seq);
    if (follow || entry.from.member === this.options.me) this.scrollToBottom(false);
    else if (entry.type === 'message' && li === this.list.lastElementChild) this.jump.hidden = false;
    return true;
  }

  /** Adds a page of older entries (ascending) without moving what the user is reading. */
  addOlder(entries: Entry[], more: boolean): void {
    const fromBottom = this.element.scrollHeight - this.element.scrollTop;
    const wasEmpty = this.bySeq.size === 0;
    for (const entry of entries) {
      if (this.bySeq.has(entry.seq)) continue;
      if (entry.type === 'message' && entry.clientId) this.resolvePending(entry.clientId);
      this.insertBySeq(this.renderEntry(entry), entry.seq);
    }
    this.setHistory(more ? 'more' : 'start');
    if (wasEmpty) this.scrollToBottom(false);
    else this.element.scrollTop = this.element.scrollHeight - fromBottom;
  }

  setHistory(state: 'idle' | 'loading' | 'more' | 'start' | 'reset' | 'error'): void {
    this.historyState = state;
    this.renderTop();
  }

  /** Shows a message being sent, until its entry (or ack) arrives. */
  addPending(clientId: string, text: string, state: PendingState): void {
    const li = h(
      'li',
      { class: 'msg own pending', attrs: { 'data-client-id': clientId } },
      h('div', 'bubble', h('p', 'text', text), h('div', 'meta pending-meta')),
    );
    this.pending.set(clientId, li);
    this.setPendingState(clientId, state);
    this.pendingList.append(li);
    this.scrollToBottom(false);
  }

  setPendingState(clientId: string, state: PendingState, reason?: string): void {
    const li = this.pending.get(clientId);
    const meta = li?.querySelector('.pending-meta');
    if (!li || !meta) return;
    li.dataset.state = state;
    if (state === 'failed') {
      replaceChildren(
        meta,
        h('span', 'failed', `Not sent${reason ? `: ${reason}` : ''}`),
        ' ',
        h('button', { class: 'link-button', attrs: { type: 'button' }, on: { click: () => this.options.onRetry(clientId) } }, 'Retry'),
      );
    } else {
      replaceChildren(meta, h('span', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }), state === 'queued' ? 'Queued: sends when the connection is back' : 'Sending…');
    }
  }

  /** Every pending message's state follows the connection (queued while it is down). */
  setAllPending(state: 'sending' | 'queued'): void {
    for (const [clientId, li] of this.pending) if (li.dataset.state !== 'failed') this.setPendingState(clientId, state);
  }

  pendingText(clientId: string): string | undefined {
    return this.pending.get(clientId)?.querySelector('.text')?.textContent ?? undefined;
  }

  /** The server stored a message sent from here: show it in place now (the entry may come later). */
  confirm(clientId: string, ack: Ack, from: Entry['from']): void {
    const text = this.pendingText(clientId);
    if (text === undefined) return;
    this.add({ type: 'message', room: ack.room, seq: ack.seq, ts: ack.ts, from, text, clientId }, true);
  }

  /** The history was reset (see the SDK's `reset` event): what follows starts from its oldest entry. */
  clear(): void {
    this.bySeq.clear();
    this.list.replaceChildren();
    this.setHistory('reset');
  }

  destroy(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }

  scrollToBottom(smooth: boolean): void {
    this.element.scrollTo({ top: this.element.scrollHeight, behavior: smooth ? 'smooth' : 'instant' });
    this.jump.hidden = true;
  }

  private resolvePending(clientId: string): void {
    const li = this.pending.get(clientId);
    if (!li) return;
    li.remove();
    this.pending.delete(clientId);
  }

  private isNearBottom(): boolean {
    const el = this.element;
    return el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
  }

  private onScroll(): void {
    if (this.isNearBottom()) this.jump.hidden = true;
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

  private insertBySeq(li: HTMLLIElement, seq: number): void {
    this.bySeq.set(seq, li);
    // Live entries come last almost always: walk from the end.
    let after = this.list.lastElementChild as HTMLElement | null;
    while (after && Number(after.dataset.seq) > seq) after = after.previousElementSibling as HTMLElement | null;
    if (after) after.after(li);
    else this.list.prepend(li);
    this.restyle(li);
    const next = li.nextElementSibling;
    if (next instanceof HTMLElement) this.restyle(next);
  }

  /** Groups a message under the previous one from the same sender, and marks a new day. */
  private restyle(li: HTMLElement): void {
    const prev = li.previousElementSibling as HTMLElement | null;
    const ts = Number(li.dataset.ts);
    const newDay = !prev || startOfDay(Number(prev.dataset.ts)) !== startOfDay(ts);
    li.classList.toggle('new-day', newDay);
    if (newDay) li.dataset.day = formatDay(ts);
    else delete li.dataset.day;
    const continued = !newDay && !!prev && li.classList.contains('msg') && prev.classList.contains('msg') && prev.dataset.sender === li.dataset.sender && ts - Number(prev.dataset.ts) < GROUP_MS;
    li.classList.toggle('continued', continued);
  }

  private renderEntry(entry: Entry): HTMLLIElement {
    const sender = entry.from.member ?? `name:${entry.from.name}`;
    const attrs = { 'data-seq': entry.seq, 'data-ts': entry.ts, 'data-sender': sender };
    const time = h('time', { attrs: { datetime: new Date(entry.ts).toISOString(), title: formatFull(entry.ts) } }, formatTime(entry.ts));
    const via = entry.from.transport ? TRANSPORT_SHORT[entry.from.transport] : undefined;
    if (entry.type !== 'message') {
      const verb = entry.type === 'join' ? 'joined' : 'left';
      return h('li', { class: 'event', attrs }, h('span', 'event-text', `${entry.from.name} ${verb}`, via && entry.type === 'join' ? ` via ${via}` : ''), ' ', time);
    }
    const own = entry.from.member === this.options.me;
    return h(
      'li',
      { class: own ? 'msg own' : 'msg', attrs },
      own ? null : h('div', { class: 'avatar', attrs: { 'aria-hidden': 'true', style: `--hue:${hueOf(sender)}` } }, initialOf(entry.from.name)),
      h(
        'div',
        'bubble',
        h(
          'div',
          'meta',
          own ? h('span', 'visually-hidden', 'You') : h('span', { class: 'sender', attrs: { style: `--hue:${hueOf(sender)}` } }, entry.from.name),
          via ? h('span', { class: 'via', attrs: { title: `Sent over ${via}` } }, via) : null,
          time,
        ),
        messageBody(entry, 'p', 'text'),
      ),
    );
  }
}
