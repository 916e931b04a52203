import type { StatusEvent } from 'switchboard-client';
import { h, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS, TRANSPORT_SHORT } from './format.js';
import { RetryCountdown } from './retry-countdown.js';

/**
 * The connection status pill: "Connected · WebSocket", "Reconnecting in 3 s", "Offline". The
 * countdown ticks visually; screen readers hear only changes of state (a separate live region).
 * The transport is written twice, long and short ("SSE"): the stylesheet shows the short one
 * where the header is narrow, so the room's name keeps its room.
 */
export class StatusBadge {
  readonly element: HTMLElement;
  private readonly text: HTMLElement;
  private readonly announcer: HTMLElement;
  private status: StatusEvent | undefined;
  private readonly countdown = new RetryCountdown(() => this.render());
  private lastAnnounced = '';
  private queued = 0;

  constructor() {
    this.text = h('span', 'status-text');
    this.announcer = h('span', { class: 'visually-hidden', attrs: { role: 'status', 'aria-live': 'polite' } });
    this.element = h('div', { class: 'status', attrs: { 'data-status': 'connecting' } }, h('span', { class: 'status-dot', attrs: { 'aria-hidden': 'true' } }), this.text, this.announcer);
    this.render();
  }

  update(status: StatusEvent | undefined): void {
    this.status = status;
    this.countdown.update(status);
    this.render();
  }

  /** Messages waiting for the connection (shown while not connected). */
  setQueued(count: number): void {
    this.queued = count;
    this.render();
  }

  destroy(): void {
    this.countdown.stop();
  }

  private render(): void {
    const s = this.status;
    const online = navigator.onLine;
    let kind: string = s?.status ?? 'connecting';
    let text: string;
    let shown: HTMLElement[] | undefined;
    let announce: string;
    if (!online && kind !== 'connected') {
      kind = 'offline';
      text = announce = 'Offline';
    } else if (!s || s.status === 'connecting') {
      text = announce = 'Connecting…';
    } else if (s.status === 'connected') {
      text = `Connected · ${TRANSPORT_LABELS[s.transport]}`;
      shown = [h('span', 'transport-long', text), h('span', { class: 'transport-short', attrs: { 'aria-hidden': 'true' } }, `Connected · ${TRANSPORT_SHORT[s.transport]}`)];
      announce = `Connected over ${TRANSPORT_LABELS[s.transport]}`;
    } else if (s.status === 'reconnecting') {
      text = `Reconnecting${this.countdown.suffix()}`;
      announce = 'Connection lost: reconnecting';
    } else if (s.status === 'offline') {
      text = announce = 'Offline';
    } else {
      text = announce = 'Disconnected';
    }
    if (this.queued > 0 && kind !== 'connected') text += ` · ${this.queued} waiting`;
    this.element.dataset.status = kind;
    this.element.title = text;
    replaceChildren(this.text, ...(shown ?? [text]));
    if (announce !== this.lastAnnounced) {
      this.lastAnnounced = announce;
      this.announcer.textContent = announce;
    }
  }
}
