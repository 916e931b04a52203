import type { PresenceMember, PresencePage, RoomInfo, TransportName } from 'switchboard-client';
import { apiRequest } from './api.js';
import { auth, roomMatches } from './auth.js';
import { h, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS } from './format.js';

/** How often the page asks the server again. */
const REFRESH_MS = 2000;
/** Rooms shown at most (each costs one presence request per refresh). */
const MAX_ROOMS = 50;
const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'long-polling', 'polling'];
const API_KEY_ITEM = 'switchboard.apiKey';

interface RoomRow {
  info: RoomInfo;
  members: PresenceMember[];
  /** How many members the room has: more than `members` lists in a big room (the read lists 100). */
  count: number;
  /** Messages per second since the previous refresh (from lastSeq), undefined on the first. */
  rate: number | undefined;
}

/**
 * The admin page (`#/admin`): the rooms this user administers (a token with `admin` there) or
 * every room (with the server's API key, kept for this tab only), each with its members and
 * their transports, connections by transport and the message rate; and the administrator's
 * actions: disconnect a member, reset a room's history, delete a room. The server checks every
 * action; this page only asks.
 */
export class AdminView {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly status: HTMLElement;
  /** What the last action did (a live region of its own: the summary is redrawn every refresh). */
  private readonly notice: HTMLElement;
  private readonly keyInput: HTMLInputElement;
  private timer: number | undefined;
  private previous = new Map<string, { lastSeq: number; at: number }>();
  private running = false;

  constructor() {
    this.keyInput = h('input', { attrs: { id: 'admin-key', type: 'password', autocomplete: 'off', placeholder: 'API key' } });
    const keyForm = h(
      'form',
      { class: 'admin-key', on: { submit: (e) => { e.preventDefault(); void this.setKey(this.keyInput.value.trim()); } } },
      h('label', { attrs: { for: 'admin-key' } }, 'Server API key'),
      h('div', 'inline-field', this.keyInput, h('button', { class: 'small', attrs: { type: 'submit' } }, 'Use key')),
    );
    this.status = h('p', 'admin-status');
    this.notice = h('p', { class: 'admin-notice', attrs: { role: 'status' } });
    this.body = h('div', 'admin-rooms');
    this.element = h(
      'section',
      { class: 'admin-view', attrs: { 'aria-labelledby': 'admin-title' } },
      h('header', 'admin-header', h('h1', { attrs: { id: 'admin-title' } }, 'Administration'), keyForm),
      this.status,
      this.notice,
      this.body,
    );
  }

  async start(): Promise<void> {
    this.running = true;
    await this.refresh();
  }

  stop(): void {
    this.running = false;
    window.clearTimeout(this.timer);
  }

  private get apiKey(): string | undefined {
    return sessionStorage.getItem(API_KEY_ITEM) ?? undefined;
  }

  /** Keeps the key for this tab once the server took it for its API key (`GET /api/auth/me`). */
  private async setKey(key: string): Promise<void> {
    this.keyInput.value = '';
    this.previous.clear();
    if (!key) {
      sessionStorage.removeItem(API_KEY_ITEM);
    } else {
      try {
        const me = await apiRequest<{ kind: string }>('GET', '/api/auth/me', { token: key });
        if (me.kind !== 'system') throw new Error('the server does not take it for its API key');
        sessionStorage.setItem(API_KEY_ITEM, key);
        this.notice.textContent = 'Using the server API key (for this tab only).';
      } catch (err) {
        sessionStorage.removeItem(API_KEY_ITEM);
        this.notice.textContent = `That key was refused: ${(err as Error).message}.`;
      }
    }
    await this.refresh();
  }

  /** The API key when one was given (every room), else the user's token (rooms it administers). */
  private request<T>(method: 'GET' | 'DELETE', path: string): Promise<T> {
    return apiRequest<T>(method, path, { token: this.apiKey ?? auth.token });
  }

  /** The rooms this page may show: all of them with the API key, else those the token administers. */
  private visible(rooms: RoomInfo[]): RoomInfo[] {
    if (this.apiKey !== undefined) return rooms;
    const patterns = auth.adminPatterns();
    return rooms.filter((r) => patterns.some((p) => roomMatches(p, r.name)));
  }

  private async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    if (!this.running) return;
    try {
      const { rooms } = await this.request<{ rooms: RoomInfo[] }>('GET', '/api/rooms');
      const shown = this.visible(rooms).slice(0, MAX_ROOMS);
      if (shown.length === 0) {
        if (this.apiKey === undefined) replaceChildren(this.status, 'You administer no room: give the server API key (', h('code', 'flag', '--api-key'), '), or sign in with a token that has the admin right in a room.');
        else this.status.textContent = 'There are no rooms.';
        replaceChildren(this.body);
      } else {
        const now = Date.now();
        const rows = await Promise.all(
          shown.map(async (info): Promise<RoomRow> => {
            const { members, count } = await this.request<PresencePage>('GET', `/api/rooms/${encodeURIComponent(info.name)}/presence`);
            const before = this.previous.get(info.name);
            this.previous.set(info.name, { lastSeq: info.lastSeq, at: now });
            const rate = before && now > before.at ? Math.max(0, info.lastSeq - before.lastSeq) / ((now - before.at) / 1000) : undefined;
            return { info, members, count: count ?? members.length, rate };
          }),
        );
        this.render(rows, rooms.length);
      }
    } catch (err) {
      this.status.textContent = `Could not load the rooms: ${(err as Error).message}`;
    }
    if (this.running) this.timer = window.setTimeout(() => void this.refresh(), REFRESH_MS);
  }

  private render(rows: RoomRow[], total: number): void {
    const byTransport = new Map<TransportName, number>();
    const byNode = new Map<string, number>();
    for (const row of rows) {
      for (const m of row.members) {
        for (const t of m.transports) byTransport.set(t, (byTransport.get(t) ?? 0) + 1);
        for (const n of m.nodes ?? []) byNode.set(n || 'unknown', (byNode.get(n || 'unknown') ?? 0) + 1);
      }
    }
    const nodes = [...byNode].sort(([a], [b]) => a.localeCompare(b)).map(([n, count]) => `${n} ${count}`);
    this.status.textContent = `${rows.length} room${rows.length === 1 ? '' : 's'} shown${total > rows.length ? ` of ${total}` : ''} · connections: ${TRANSPORTS.map((t) => `${TRANSPORT_LABELS[t]} ${byTransport.get(t) ?? 0}`).join(', ')}${nodes.length > 0 ? ` · by node: ${nodes.join(', ')}` : ''} · refreshed every ${REFRESH_MS / 1000} s${this.apiKey !== undefined ? ' · using the API key' : ''}`;
    replaceChildren(this.body, ...rows.map((row) => this.roomCard(row)));
  }

  private roomCard({ info, members, count, rate }: RoomRow): HTMLElement {
    const room = info.name;
    const titleId = `admin-room-${room.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const action = (label: string, confirmText: string, run: () => Promise<unknown>): HTMLButtonElement =>
      h(
        'button',
        {
          class: 'small danger',
          attrs: { type: 'button', 'aria-label': `${label} #${room}` },
          on: {
            click: () => {
              if (!window.confirm(confirmText)) return;
              run().then(
                () => {
                  this.notice.textContent = `${label}: done for #${room}.`;
                  void this.refresh();
                },
                (err: unknown) => (this.notice.textContent = `${label} #${room} failed: ${(err as Error).message}`),
              );
            },
          },
        },
        label,
      );
    return h(
      'article',
      { class: 'admin-room', attrs: { 'aria-labelledby': titleId, 'data-room': room } },
      h(
        'header',
        'admin-room-header',
        h('h2', { attrs: { id: titleId } }, `#${room}`),
        h('span', 'admin-figures', `${count} member${count === 1 ? '' : 's'} · ${info.lastSeq} entr${info.lastSeq === 1 ? 'y' : 'ies'} · ${rate === undefined ? '… msg/s' : `${rate.toFixed(1)} msg/s`}`),
        h(
          'span',
          'admin-actions',
          action('Reset history', `Wipe every message of #${room}? Its members are told, and the log starts again.`, () => this.request('DELETE', `/api/rooms/${encodeURIComponent(room)}/messages`)),
          action('Delete room', `Delete #${room} with its whole history? Its members are disconnected from it.`, () => this.request('DELETE', `/api/rooms/${encodeURIComponent(room)}`)),
        ),
      ),
      members.length === 0
        ? h('p', 'admin-empty', 'Nobody here now.')
        : h(
            'ul',
            { class: 'admin-members', attrs: { 'aria-label': `Members of #${room}` } },
            ...members.map((m) =>
              h(
                'li',
                'admin-member',
                h('span', 'person-name', m.name),
                h('span', 'admin-member-id', m.member),
                h('span', 'chips', ...connectionChips(m)),
                h(
                  'button',
                  {
                    class: 'small',
                    attrs: { type: 'button', 'aria-label': `Disconnect ${m.name} from #${room}` },
                    on: {
                      click: () =>
                        void this.request('DELETE', `/api/rooms/${encodeURIComponent(room)}/members/${encodeURIComponent(m.member)}`).then(
                          () => {
                            this.notice.textContent = `${m.name} was disconnected from #${room}.`;
                            void this.refresh();
                          },
                          (err: unknown) => (this.notice.textContent = `Disconnecting ${m.name} failed: ${(err as Error).message}`),
                        ),
                    },
                  },
                  'Disconnect',
                ),
              ),
            ),
          ),
    );
  }
}

/** One chip per kind of connection of a member: its transport, and the node holding it when the server says (`WebSocket · w1 ×2`). */
function connectionChips(m: PresenceMember): HTMLElement[] {
  const counts = new Map<string, { transport: TransportName; node: string | undefined; n: number }>();
  m.transports.forEach((transport, i) => {
    const node = m.nodes?.[i] || undefined;
    const key = `${transport} ${node ?? ''}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { transport, node, n: 1 });
  });
  return [...counts.values()].map(({ transport, node, n }) =>
    h('span', { class: `chip chip-${transport}`, attrs: node ? { title: `on node ${node}` } : {} }, `${TRANSPORT_LABELS[transport]}${node ? ` · ${node}` : ''}${n > 1 ? ` ×${n}` : ''}`),
  );
}
