import type { PresenceMember } from 'switchboard-client';
import { h, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS, TRANSPORT_SHORT, hueOf, initialOf } from './format.js';

/**
 * "Here now": who is in the room and on which transport(s). `onCount` hears the number it shows
 * each time it is drawn (the room list says the same number for this room).
 */
export class PresenceList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly heading: HTMLElement;

  constructor(
    private me: string,
    private readonly onCount: (count: number) => void = () => {},
  ) {
    this.heading = h('h2', { class: 'side-title', attrs: { id: 'presence-title' } }, 'Here now');
    this.list = h('ul', { class: 'presence-list', attrs: { 'aria-labelledby': 'presence-title' } });
    this.element = h('section', 'side-section presence', this.heading, this.list);
  }

  private last: PresenceMember[] = [];
  /** The room's member count, when `last` is a part of the room (a big room: the server lists at most 1000). */
  private lastTotal: number | undefined;
  private connected = true;

  /** This tab's connection went up or down: it is listed only while connected. */
  setConnected(connected: boolean): void {
    if (connected !== this.connected) this.render(this.last, connected, this.lastTotal);
  }

  /** This user's member id changed (another token): "(you)" follows it. */
  setMe(member: string): void {
    this.me = member;
  }

  /**
   * Who is here, as last known. While this tab is not connected (`connected` false) it is not
   * here: it is left out, and the others are shown as last seen (dimmed, under a note that says
   * so), or "Unknown while reconnecting" when there are none; never "Nobody yet", which only a
   * connected tab knows. `total`: the room's member
   * count when `members` is only a part of it (the count shown, and "and N more" under the list).
   */
  render(members: PresenceMember[], connected = true, total?: number): void {
    this.last = members;
    this.lastTotal = total;
    this.connected = connected;
    const listed = members.length;
    if (!connected) members = members.filter((m) => m.member !== this.me);
    const count = total === undefined ? members.length : Math.max(members.length, total - (listed - members.length));
    this.element.classList.toggle('stale', !connected);
    this.heading.title = connected ? '' : 'As last seen: you are not connected';
    const sorted = [...members].sort((a, b) => (a.member === this.me ? -1 : b.member === this.me ? 1 : a.name.localeCompare(b.name)));
    // Not connected, nobody else last seen: that is not knowledge of an empty room (a restarting
    // server drops everyone at once), so no count and no "Nobody yet".
    const unknown = !connected && members.length === 0;
    if (unknown) replaceChildren(this.heading, 'Here now');
    else replaceChildren(this.heading, 'Here now ', h('span', 'count', `(${count})`));
    replaceChildren(
      this.list,
      ...sorted.map((m) =>
        h(
          'li',
          'person',
          h('span', { class: 'avatar small', attrs: { 'aria-hidden': 'true', style: `--hue:${hueOf(m.member)}` } }, initialOf(m.name)),
          // The name is cut to fit (its tooltip has it whole), never "(you)" after it.
          h('span', 'person-name', h('span', { class: 'person-label', attrs: { title: m.name } }, m.name), m.member === this.me ? h('span', 'you', ' (you)') : null),
          h(
            'span',
            'chips',
            ...[...new Set(m.transports)].map((t) => h('span', { class: `chip chip-${t}`, attrs: { title: TRANSPORT_LABELS[t] } }, TRANSPORT_SHORT[t], h('span', 'visually-hidden', ` (${TRANSPORT_LABELS[t]})`))),
          ),
        ),
      ),
    );
    if (!connected) this.list.prepend(h('li', 'empty reconnecting', unknown ? 'Unknown while reconnecting' : 'Reconnecting: as last seen'));
    if (members.length === 0 && connected) this.list.append(h('li', 'empty', 'Nobody yet'));
    else if (count > members.length) this.list.append(h('li', 'empty', `and ${count - members.length} more`));
    this.onCount(count);
  }
}
