import type { PresenceMember } from 'switchboard-client';
import { h, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS, TRANSPORT_SHORT, hueOf, initialOf } from './format.js';

/** "Here now": who is in the room and on which transport(s). */
export class PresenceList {
  readonly element: HTMLElement;
  private readonly list: HTMLUListElement;
  private readonly heading: HTMLElement;

  constructor(private me: string) {
    this.heading = h('h2', { class: 'side-title', attrs: { id: 'presence-title' } }, 'Here now');
    this.list = h('ul', { class: 'presence-list', attrs: { 'aria-labelledby': 'presence-title' } });
    this.element = h('section', 'side-section presence', this.heading, this.list);
  }

  /** This user's member id changed (another token): "(you)" follows it. */
  setMe(member: string): void {
    this.me = member;
  }

  render(members: PresenceMember[]): void {
    const sorted = [...members].sort((a, b) => (a.member === this.me ? -1 : b.member === this.me ? 1 : a.name.localeCompare(b.name)));
    replaceChildren(this.heading, 'Here now ', h('span', 'count', `(${members.length})`));
    replaceChildren(
      this.list,
      ...sorted.map((m) =>
        h(
          'li',
          'person',
          h('span', { class: 'avatar small', attrs: { 'aria-hidden': 'true', style: `--hue:${hueOf(m.member)}` } }, initialOf(m.name)),
          h('span', 'person-name', m.name, m.member === this.me ? h('span', 'you', ' (you)') : null),
          h(
            'span',
            'chips',
            ...[...new Set(m.transports)].map((t) => h('span', { class: `chip chip-${t}`, attrs: { title: TRANSPORT_LABELS[t] } }, TRANSPORT_SHORT[t], h('span', 'visually-hidden', ` (${TRANSPORT_LABELS[t]})`))),
          ),
        ),
      ),
    );
    if (members.length === 0) this.list.append(h('li', 'empty', 'Nobody yet'));
  }
}
