import { DEFAULT_ROOM, ROOM_NAME_PATTERN } from '../../src/protocol/constants.js';
import type { RoomInfo } from '../../src/protocol/types.js';
import { h, icon, replaceChildren } from './dom.js';
import { createRoom, latestEntries, listRooms } from './rooms.js';
import { storage } from './storage.js';

export interface RoomListOptions {
  me: string;
  current(): string;
  /** The user picked (or created) a room. */
  onOpen(room: string): void;
}

/** Refresh the list this often. */
const REFRESH_MS = 5000;

/**
 * The list of rooms with unread counts, and the form to create or join a room. Unread messages
 * are messages of others after the room's read mark (storage); a room seen for the first time
 * gets its mark then, so only what arrives afterwards counts.
 */
export class RoomList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly input: HTMLInputElement;
  private readonly error: HTMLElement;
  private rooms: RoomInfo[] = [];
  private readonly unread = new Map<string, { lastSeq: number; count: number }>();
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
    this.renderList();
  }

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  /** The current room changed or was read: redraw marks. */
  markRead(room: string, epoch: string, seq: number): void {
    const mark = storage.readMark(room);
    if (!mark || mark.epoch !== epoch || mark.seq < seq) storage.setReadMark(room, { epoch, seq });
    this.unread.delete(room);
    this.renderList();
  }

  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    try {
      this.rooms = await listRooms();
      await Promise.all(this.rooms.map((room) => this.countUnread(room)));
    } catch {
      // The status pill already says when the server is unreachable; keep the last list.
    } finally {
      this.refreshing = false;
    }
    this.renderList();
  }

  private async countUnread(room: RoomInfo): Promise<void> {
    if (room.name === this.options.current()) return;
    const mark = storage.readMark(room.name);
    if (!mark || mark.epoch !== room.epoch) {
      storage.setReadMark(room.name, { epoch: room.epoch, seq: room.lastSeq });
      return;
    }
    if (room.lastSeq <= mark.seq) {
      this.unread.delete(room.name);
      return;
    }
    if (this.unread.get(room.name)?.lastSeq === room.lastSeq) return;
    const entries = await latestEntries(room.name, 100);
    const count = entries.filter((e) => e.type === 'message' && e.seq > mark.seq && e.from.member !== this.options.me).length;
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
    names.add(current);
    const sorted = [...names].sort((a, b) => (a === DEFAULT_ROOM ? -1 : b === DEFAULT_ROOM ? 1 : a.localeCompare(b)));
    replaceChildren(
      this.list,
      ...sorted.map((name) => {
        const count = this.unread.get(name)?.count ?? 0;
        const info = this.rooms.find((r) => r.name === name);
        const label = `${name}${count ? `, ${count} unread` : ''}${info?.members ? `, ${info.members} here` : ''}`;
        return h(
          'li',
          null,
          h(
            'button',
            {
              class: `room${name === current ? ' current' : ''}${count ? ' has-unread' : ''}`,
              attrs: { type: 'button', 'aria-current': name === current ? 'true' : undefined, 'aria-label': label, 'data-room': name },
              on: { click: () => this.options.onOpen(name) },
            },
            h('span', { class: 'hash', attrs: { 'aria-hidden': 'true' } }, '#'),
            h('span', 'room-name', name),
            count ? h('span', { class: 'badge', attrs: { 'aria-hidden': 'true' } }, count > 99 ? '99+' : String(count)) : null,
          ),
        );
      }),
    );
    if (focused !== undefined) this.list.querySelector<HTMLElement>(`[data-room="${CSS.escape(focused)}"]`)?.focus();
  }
}
