import { DEFAULT_ROOM, ROOM_NAME_PATTERN } from 'switchboard-client';
import type { RoomInfo, UnreadCount } from 'switchboard-client';
import { h, icon, replaceChildren } from './dom.js';
import { READ_COUNTS_MAX, ROOM_NAME_RULE, createRoom, listRooms, readCounts } from './rooms.js';
import { isCompareRoom } from './storage.js';

export interface RoomListOptions {
  current(): string;
  /** The user picked (or created) a room. */
  onOpen(room: string): void;
  /** Keep refreshing the counts while the page is hidden (to notify of mentions). */
  countWhileHidden?(): boolean;
  /** The server counts `added` more mentions of this member in `room` (not the current one) than at the last refresh. */
  onMentioned?(room: string, added: number): void;
}

/** Refresh the list and the counts (one request each) this often. */
const REFRESH_MS = 5000;
/** Rooms drawn at first; "Show more rooms" draws this many more each time. */
const PAGE_SIZE = 50;

/**
 * The list of rooms with unread counts and mentions, and the form to create or join a room. The
 * counts are the server's (this member's read position in each room, shared by all their tabs
 * and devices): messages of others after it, not deleted; mentions are those naming this member.
 *
 * How many are here: for the current room, the number the "Here now" panel shows (live, from
 * presence notices, see {@link setHere}); for the others, the server's at the last refresh.
 *
 * The cost is bounded however many rooms there are: each refresh is one `GET /api/rooms` (pages of
 * 500) and one `GET /api/read?rooms=` for the rooms drawn (at most PAGE_SIZE until the user asks
 * for more; one more request per READ_COUNTS_MAX rooms beyond).
 */
export class RoomList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly input: HTMLInputElement;
  private readonly error: HTMLElement;
  private rooms: RoomInfo[] = [];
  private byName = new Map<string, RoomInfo>();
  /** The server's counts, by room. */
  private readonly unread = new Map<string, UnreadCount>();
  /** Rooms drawn now, in order. */
  private drawn: string[] = [];
  private limit = PAGE_SIZE;
  private timer: number | undefined;
  private refreshing = false;
  /** The current room's count of members here, as the "Here now" panel shows it. */
  private here: { room: string; count: number } | undefined;

  constructor(private readonly options: RoomListOptions) {
    this.list = h('ul', { class: 'room-list', attrs: { 'aria-labelledby': 'rooms-title' } });
    this.input = h('input', { attrs: { id: 'new-room', name: 'room', autocomplete: 'off', placeholder: 'room-name', pattern: '[A-Za-z0-9_.\\-]{1,64}', maxlength: 64, required: true, 'aria-describedby': 'new-room-error' } });
    this.error = h('p', { class: 'field-error', attrs: { id: 'new-room-error', role: 'alert', hidden: true } });
    const form = h(
      'form',
      { class: 'new-room', on: { submit: (e) => { e.preventDefault(); void this.create(); } } },
      h('label', { attrs: { for: 'new-room' } }, 'Create or join a room'),
      h('div', 'inline-field', this.input, h('button', { class: 'small', attrs: { type: 'submit' } }, icon('plus'), h('span', null, 'Create'))),
      this.error,
    );
    this.element = h('section', 'side-section rooms', h('h2', { class: 'side-title', attrs: { id: 'rooms-title' } }, 'Rooms'), this.list, form);
    this.renderList();
  }

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
    // Back to the tab: counts now, not at the next tick.
    window.addEventListener('focus', () => void this.refresh());
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  /** The current room was read up to its newest message: no count until the next refresh says otherwise. */
  markRead(room: string): void {
    const count = this.unread.get(room);
    if (count && (count.unread || count.mentions)) {
      this.unread.set(room, { ...count, unread: 0, mentions: 0, capped: false });
      this.renderList();
    }
  }

  /** The "Here now" panel shows `count` members in `room` (the current one): the list says the same. */
  setHere(room: string, count: number): void {
    if (this.here?.room === room && this.here.count === count) return;
    this.here = { room, count };
    this.renderList();
  }

  /** One `GET /api/rooms`, then the counts of the rooms drawn (see the class comment). */
  async refresh(): Promise<void> {
    // A hidden tab shows nothing: it catches up when shown again (unless it notifies of mentions).
    if (this.refreshing || (document.visibilityState === 'hidden' && !this.options.countWhileHidden?.())) return;
    this.refreshing = true;
    try {
      // Compare's rooms of their own (one per browser that opened Compare) are no rooms to chat in.
      this.rooms = (await listRooms()).filter((r) => !isCompareRoom(r.name));
      this.byName = new Map(this.rooms.map((r) => [r.name, r]));
      this.renderList();
      const current = this.options.current();
      const wanted = this.drawn.filter((name) => name !== current);
      for (let i = 0; i < wanted.length; i += READ_COUNTS_MAX) {
        for (const count of await readCounts(wanted.slice(i, i + READ_COUNTS_MAX))) {
          const before = this.unread.get(count.room);
          // A first count says nothing new: only a count that grows since the last refresh does.
          if (before && count.mentions > before.mentions && count.room !== this.options.current()) this.options.onMentioned?.(count.room, count.mentions - before.mentions);
          this.unread.set(count.room, count);
        }
      }
    } catch {
      // The status pill already says when the server is unreachable; keep the last list.
    } finally {
      this.refreshing = false;
    }
    this.renderList();
  }

  private async create(): Promise<void> {
    const name = this.input.value.trim();
    if (!ROOM_NAME_PATTERN.test(name)) {
      this.showError(ROOM_NAME_RULE);
      return;
    }
    this.showError(undefined);
    try {
      await createRoom(name);
      this.input.value = '';
      this.options.onOpen(name);
      void this.refresh();
    } catch (err) {
      this.showError(`Could not create “${name}”: ${(err as Error).message}`);
    }
  }

  private showError(text: string | undefined): void {
    this.error.hidden = text === undefined;
    this.error.textContent = text ?? '';
    this.input.setAttribute('aria-invalid', String(text !== undefined));
  }

  renderList(): void {
    // Redrawn every few seconds: keep keyboard focus on the room it was on.
    const focused = this.list.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.room : undefined;
    const current = this.options.current();
    const names = new Set(this.rooms.map((r) => r.name));
    names.add(DEFAULT_ROOM);
    if (current) names.add(current);
    const sorted = [...names].sort((a, b) => (a === DEFAULT_ROOM ? -1 : b === DEFAULT_ROOM ? 1 : a.localeCompare(b)));
    // At most `limit` rooms, and the current one wherever it sorts.
    const shown = sorted.filter((name, i) => i < this.limit || name === current);
    const more = sorted.length - shown.length;
    this.drawn = shown;
    const buttons = shown.map((name) => {
      const info = this.byName.get(name);
      const counted = name === current ? undefined : this.unread.get(name);
      const count = counted?.unread ?? 0;
      const mentions = counted?.mentions ?? 0;
      const many = counted?.capped ? `more than ${count}` : String(count);
      const here = name === current && this.here?.room === name ? this.here.count : info?.members;
      const label = `${name}${count ? `, ${many} unread` : ''}${mentions ? `, ${mentions} mention${mentions === 1 ? '' : 's'}` : ''}${here ? `, ${here} here` : ''}`;
      return h(
        'button',
        {
          class: `room${name === current ? ' current' : ''}${count ? ' has-unread' : ''}${mentions ? ' has-mentions' : ''}`,
          attrs: { type: 'button', 'aria-current': name === current ? 'true' : undefined, 'aria-label': label, 'data-room': name },
          on: { click: () => this.options.onOpen(name) },
        },
        h('span', { class: 'hash', attrs: { 'aria-hidden': 'true' } }, '#'),
        h('span', 'room-name', name),
        mentions ? h('span', { class: 'badge mention-badge', attrs: { 'aria-hidden': 'true', title: `${mentions} mention${mentions === 1 ? '' : 's'} of you` } }, `@${mentions > 99 ? '99+' : mentions}`) : null,
        count ? h('span', { class: 'badge', attrs: { 'aria-hidden': 'true' } }, count > 99 || counted?.capped ? '99+' : String(count)) : null,
      );
    });
    const moreButton = more > 0
      ? h(
          'button',
          {
            class: 'link-button more-rooms',
            attrs: { type: 'button' },
            on: {
              click: () => {
                const firstNew = sorted[this.limit];
                this.limit += PAGE_SIZE;
                this.renderList();
                void this.refresh();
                if (firstNew !== undefined) this.list.querySelector<HTMLElement>(`[data-room="${CSS.escape(firstNew)}"]`)?.focus();
              },
            },
          },
          `Show ${Math.min(more, PAGE_SIZE)} more rooms (${more} not shown)`,
        )
      : null;
    replaceChildren(this.list, ...buttons.map((b) => h('li', null, b)), moreButton ? h('li', 'more-rooms-item', moreButton) : null);
    if (focused !== undefined) this.list.querySelector<HTMLElement>(`[data-room="${CSS.escape(focused)}"]`)?.focus();
  }
}
