import { DEFAULT_ROOM, ROOM_NAME_PATTERN } from 'switchboard-client';
import type { RoomInfo } from 'switchboard-client';
import { h, icon, replaceChildren } from './dom.js';
import { createRoom, latestEntries, listRooms } from './rooms.js';
import { storage } from './storage.js';

export interface RoomListOptions {
  /** This user's member id (their own messages are never unread). */
  me(): string;
  current(): string;
  /** The user picked (or created) a room. */
  onOpen(room: string): void;
}

/** Refresh the list (one request: `GET /api/rooms`) this often. */
const REFRESH_MS = 5000;
/** Rooms drawn at first; "Show more rooms" draws this many more each time. */
const PAGE_SIZE = 50;
/** Unread counts (one history request each) in flight at once. */
const COUNT_CONCURRENCY = 2;
/** Unread counts fetched per refresh period at most, however many rooms changed. */
const COUNTS_PER_REFRESH = 10;
/** Newest entries a count looks at (more unread than that shows as "99+"). */
const COUNT_WINDOW = 100;

/**
 * The list of rooms with unread counts, and the form to create or join a room. Unread messages
 * are messages of others after the room's read mark (storage); a room seen for the first time
 * gets its mark then, so only what arrives afterwards counts.
 *
 * The cost is bounded however many rooms there are: one `GET /api/rooms` per refresh tells, from
 * each room's newest seq, which rooms have anything new. Only rooms drawn and on screen
 * (IntersectionObserver) are counted exactly, one history page each, at most COUNT_CONCURRENCY
 * at a time and COUNTS_PER_REFRESH per refresh period; a room not counted yet shows a dot. At
 * most PAGE_SIZE rooms are drawn until the user asks for more.
 */
export class RoomList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly input: HTMLInputElement;
  private readonly error: HTMLElement;
  private rooms: RoomInfo[] = [];
  private byName = new Map<string, RoomInfo>();
  /** Exact counts, as of the room's lastSeq then. */
  private readonly unread = new Map<string, { lastSeq: number; count: number }>();
  /** Rooms whose button is on screen now. */
  private readonly visible = new Set<string>();
  /** Rooms drawn now, in order. */
  private drawn: string[] = [];
  private readonly counting = new Set<string>();
  private countBudget = COUNTS_PER_REFRESH;
  private limit = PAGE_SIZE;
  private readonly observer: IntersectionObserver | undefined;
  private timer: number | undefined;
  private refreshing = false;

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
    if (typeof IntersectionObserver === 'function') {
      this.observer = new IntersectionObserver((records) => {
        for (const r of records) {
          const room = (r.target as HTMLElement).dataset.room;
          if (room === undefined) continue;
          if (r.isIntersecting) this.visible.add(room);
          else this.visible.delete(room);
        }
        this.pump();
      });
    }
    this.renderList();
  }

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  stop(): void {
    window.clearInterval(this.timer);
    this.observer?.disconnect();
  }

  /** The current room changed or was read: redraw marks. */
  markRead(room: string, epoch: string, seq: number): void {
    const mark = storage.readMark(room);
    if (!mark || mark.epoch !== epoch || mark.seq < seq) storage.setReadMark(room, { epoch, seq });
    this.unread.delete(room);
    this.renderList();
  }

  /** One `GET /api/rooms`; exact counts follow for rooms on screen (see the class comment). */
  async refresh(): Promise<void> {
    // A hidden tab shows nothing: it catches up when shown again.
    if (this.refreshing || document.visibilityState === 'hidden') return;
    this.refreshing = true;
    try {
      this.rooms = await listRooms();
      this.byName = new Map(this.rooms.map((r) => [r.name, r]));
      this.countBudget = COUNTS_PER_REFRESH;
      for (const room of this.rooms) this.updateMark(room);
    } catch {
      // The status pill already says when the server is unreachable; keep the last list.
    } finally {
      this.refreshing = false;
    }
    this.renderList();
    this.pump();
  }

  /** A room seen for the first time (or in a new epoch) is read up to now; one read since has no unread. */
  private updateMark(room: RoomInfo): void {
    if (room.name === this.options.current()) return;
    const mark = storage.readMark(room.name);
    if (!mark || mark.epoch !== room.epoch) {
      storage.setReadMark(room.name, { epoch: room.epoch, seq: room.lastSeq });
      this.unread.delete(room.name);
    } else if (room.lastSeq <= mark.seq) {
      this.unread.delete(room.name);
    }
  }

  /** The room has entries after its read mark that no exact count covers yet. */
  private hasNews(room: RoomInfo): boolean {
    if (room.name === this.options.current()) return false;
    const mark = storage.readMark(room.name);
    if (!mark || mark.epoch !== room.epoch || room.lastSeq <= mark.seq) return false;
    return this.unread.get(room.name)?.lastSeq !== room.lastSeq;
  }

  /** Starts exact counts of rooms on screen, within the concurrency and the period's budget. */
  private pump(): void {
    while (this.counting.size < COUNT_CONCURRENCY && this.countBudget > 0) {
      const room = this.nextToCount();
      if (!room) return;
      this.countBudget--;
      this.counting.add(room.name);
      void this.countUnread(room)
        .catch(() => undefined)
        .finally(() => {
          this.counting.delete(room.name);
          this.renderList();
          this.pump();
        });
    }
  }

  private nextToCount(): RoomInfo | undefined {
    // Without IntersectionObserver: the rooms drawn, in order.
    const candidates = this.observer ? this.visible : this.drawn;
    for (const name of candidates) {
      const room = this.byName.get(name);
      if (room && !this.counting.has(name) && this.hasNews(room)) return room;
    }
    return undefined;
  }

  private async countUnread(room: RoomInfo): Promise<void> {
    const mark = storage.readMark(room.name);
    if (!mark) return;
    const entries = await latestEntries(room.name, COUNT_WINDOW);
    const me = this.options.me();
    const count = entries.filter((e) => e.type === 'message' && e.seq > mark.seq && e.from.member !== me).length;
    this.unread.set(room.name, { lastSeq: room.lastSeq, count });
  }

  private async create(): Promise<void> {
    const name = this.input.value.trim();
    if (!ROOM_NAME_PATTERN.test(name)) {
      this.showError('Room names are 1 to 64 letters, digits, “-”, “_” or “.” (no spaces).');
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
    this.observer?.disconnect();
    const drawnSet = new Set(shown);
    for (const name of [...this.visible]) if (!drawnSet.has(name)) this.visible.delete(name);
    const buttons = shown.map((name) => {
      const info = this.byName.get(name);
      const counted = this.unread.get(name);
      const count = counted?.count ?? 0;
      // Something new, not counted yet (a room off screen, or waiting for its turn).
      const fresh = !count && info !== undefined && this.hasNews(info);
      const label = `${name}${count ? `, ${count >= COUNT_WINDOW ? 'more than 99' : count} unread` : fresh ? ', new activity' : ''}${info?.members ? `, ${info.members} here` : ''}`;
      return h(
        'button',
        {
          class: `room${name === current ? ' current' : ''}${count ? ' has-unread' : ''}${fresh ? ' has-news' : ''}`,
          attrs: { type: 'button', 'aria-current': name === current ? 'true' : undefined, 'aria-label': label, 'data-room': name },
          on: { click: () => this.options.onOpen(name) },
        },
        h('span', { class: 'hash', attrs: { 'aria-hidden': 'true' } }, '#'),
        h('span', 'room-name', name),
        count ? h('span', { class: 'badge', attrs: { 'aria-hidden': 'true' } }, count > 99 ? '99+' : String(count)) : fresh ? h('span', { class: 'news-dot', attrs: { 'aria-hidden': 'true', title: 'New activity' } }) : null,
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
                if (firstNew !== undefined) this.list.querySelector<HTMLElement>(`[data-room="${CSS.escape(firstNew)}"]`)?.focus();
              },
            },
          },
          `Show ${Math.min(more, PAGE_SIZE)} more rooms (${more} not shown)`,
        )
      : null;
    replaceChildren(this.list, ...buttons.map((b) => h('li', null, b)), moreButton ? h('li', 'more-rooms-item', moreButton) : null);
    for (const b of buttons) this.observer?.observe(b);
    if (focused !== undefined) this.list.querySelector<HTMLElement>(`[data-room="${CSS.escape(focused)}"]`)?.focus();
  }
}
