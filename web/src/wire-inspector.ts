import type { WireEvent } from 'switchboard-client';
import { h, icon, replaceChildren } from './dom.js';
import { TRANSPORT_SHORT, formatBytes, formatClock, formatDuration } from './format.js';

/** Rows kept in the list (older rows are dropped). */
export const WIRE_ROWS = 200;

/** An HTTP answer of 400 or more, or a refusal in an error frame or event. */
function failed(e: WireEvent): boolean {
  if (e.status !== undefined) return e.status >= 400;
  return e.direction === 'in' && (e.kind === 'ws' || e.kind === 'sse') && /^\{"type":"error"|^error /.test(e.summary);
}

/** One cell of a row of the grid. */
function cell(tag: 'span' | 'code', className: string, text: string, attrs: Record<string, string> = {}): HTMLElement {
  return h(tag, { class: className, attrs: { role: 'gridcell', ...attrs } }, text);
}

/** The fewest ms between two announcements of the paused count while it grows. */
const HELD_ANNOUNCED_EVERY_MS = 5000;

const KIND_LABEL: Record<WireEvent['kind'], string> = { http: 'HTTP', sse: 'SSE', ws: 'WS', heartbeat: 'Beat' };

/**
 * The "Wire inspector" panel: what the transport in use does on the wire, one row per HTTP
 * exchange, SSE event, WebSocket frame or heartbeat (the SDK's `wire` events), the last 200,
 * with totals, Pause and Clear. Rows are added once per animation frame.
 *
 * The rows are a WAI-ARIA grid (a row is a record: time, direction, kind, what, bytes, summary)
 * that is one Tab stop: a roving tabindex on the rows, ArrowUp/ArrowDown/Home/End move between
 * them, Enter or Space opens a row to its whole exchange. With one Tab stop per row, hundreds of
 * rows stood between a keyboard user and the rest of the page.
 */
export class WireInspector {
  readonly element: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly totals: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly held: HTMLElement;
  /** The paused count for screen readers: a polite status written at most every 5 s. */
  private readonly heldStatus: HTMLElement;
  private heldAnnouncedAt = 0;
  private heldTimer: number | undefined;
  private paused = false;
  private queue: Array<WireEvent | string> = [];
  private heldWhilePaused = 0;
  private frame = 0;
  private sums = { events: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
  /** The row that is the list's Tab stop once the user moved to one (else the newest row is). */
  private current: HTMLLIElement | undefined;

  constructor(options: { onClose?: () => void } = {}) {
    this.list = h('ol', { class: 'wire-list', attrs: { role: 'grid', 'aria-label': 'Wire events, oldest first' }, on: { keydown: (e) => this.onKeyDown(e), focusin: (e) => this.onFocusIn(e) } });
    this.totals = h('p', { class: 'wire-totals', attrs: { title: 'Payload bytes as the SDK sees them; each HTTP request also carries about 0.7 kB of headers' } });
    // The line is seen as it counts every event; screen readers get the same words from the
    // status beside it, at a pace they can follow (each write of a live region is read out).
    this.held = h('p', { class: 'wire-held', attrs: { hidden: true, 'aria-hidden': 'true' } });
    this.heldStatus = h('p', { class: 'visually-hidden', attrs: { role: 'status', 'aria-live': 'polite' } });
    // An action button whose name says what it does ("Pause", "Resume"), not a toggle: with
    // aria-pressed as well, a screen reader said "Resume, pressed" while paused.
    this.pauseButton = h('button', { class: 'small', attrs: { type: 'button' }, on: { click: () => this.togglePause() } }, icon('pause'), h('span', null, 'Pause'));
    this.element = h(
      'section',
      { class: 'panel wire', attrs: { 'aria-labelledby': 'wire-title' } },
      h(
        'header',
        'panel-header',
        h('h2', { attrs: { id: 'wire-title' } }, 'Wire inspector'),
        h(
          'div',
          'panel-actions',
          this.pauseButton,
          h('button', { class: 'small', attrs: { type: 'button' }, on: { click: () => this.clear() } }, icon('trash'), h('span', null, 'Clear')),
          options.onClose ? h('button', { class: 'small icon-only close-panel', attrs: { type: 'button', 'aria-label': 'Close wire inspector' }, on: { click: options.onClose } }, icon('close')) : null,
        ),
      ),
      this.totals,
      // Not a Tab stop of its own: the grid in it is one, and a focused row is scrolled into view.
      h('div', 'wire-scroll', this.list),
      this.held,
      this.heldStatus,
    );
    this.renderTotals();
  }

  push(event: WireEvent): void {
    this.sums.events++;
    if (event.kind === 'http') this.sums.requests++;
    if (event.direction === 'in') this.sums.bytesIn += event.bytes;
    else this.sums.bytesOut += event.bytes;
    this.enqueue(event);
  }

  /** A line between rows, e.g. "Switched to Long polling". */
  note(text: string): void {
    this.enqueue(text);
  }

  clear(): void {
    this.queue = [];
    this.heldWhilePaused = 0;
    this.sums = { events: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
    this.current = undefined;
    this.list.replaceChildren();
    this.renderTotals();
    this.renderHeld();
  }

  destroy(): void {
    cancelAnimationFrame(this.frame);
    window.clearTimeout(this.heldTimer);
  }

  private enqueue(item: WireEvent | string): void {
    this.queue.push(item);
    if (this.queue.length > WIRE_ROWS) this.queue.splice(0, this.queue.length - WIRE_ROWS);
    if (this.paused) {
      if (typeof item !== 'string') this.heldWhilePaused++;
      this.renderHeld();
      return;
    }
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  private togglePause(): void {
    this.paused = !this.paused;
    replaceChildren(this.pauseButton, icon(this.paused ? 'play' : 'pause'), h('span', null, this.paused ? 'Resume' : 'Pause'));
    this.element.classList.toggle('paused', this.paused);
    if (!this.paused) this.heldWhilePaused = 0;
    // The line shows (and is said) as the pause begins, not only at the first event held.
    this.renderHeld();
    if (!this.paused) this.flush();
  }

  private flush(): void {
    this.frame = 0;
    if (this.paused || this.queue.length === 0) {
      this.renderTotals();
      return;
    }
    const scroller = this.list.parentElement!;
    const focusInList = this.list.contains(document.activeElement);
    // A keyboard user reading a row is not scrolled away from it by new ones.
    const follow = !focusInList && scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    for (const item of this.queue) fragment.append(typeof item === 'string' ? h('li', { class: 'wire-note', attrs: { role: 'row', tabindex: -1 } }, h('span', { attrs: { role: 'gridcell' } }, item)) : this.row(item));
    this.queue = [];
    this.list.append(fragment);
    while (this.list.childElementCount > WIRE_ROWS) this.list.firstElementChild!.remove();
    if (this.current && !this.current.isConnected) {
      // The row the user was on was dropped (the oldest go first): the oldest one kept, its
      // neighbour, takes its place, and the focus with it.
      this.current = undefined;
      const first = this.list.firstElementChild as HTMLLIElement | null;
      if (first) {
        this.setCurrent(first);
        if (focusInList) first.focus({ preventScroll: true });
      }
    }
    this.updateTabStop();
    if (follow) scroller.scrollTop = scroller.scrollHeight;
    this.renderTotals();
  }

  private row(e: WireEvent): HTMLLIElement {
    const out = e.direction === 'out';
    let main: string;
    if (e.kind === 'http') {
      main = `${e.method ?? ''} ${e.path ?? ''}`.trim();
    } else if (e.kind === 'sse') {
      main = e.id ? `id ${e.id}` : 'event';
    } else if (e.kind === 'ws') {
      main = out ? 'frame sent' : 'frame received';
    } else {
      main = 'heartbeat';
    }
    const details: string[] = [];
    if (e.status !== undefined) details.push(String(e.status));
    if (e.durationMs !== undefined) details.push(e.durationMs >= 1000 ? `held ${formatDuration(e.durationMs)}` : formatDuration(e.durationMs));
    const li = h(
      'li',
      {
        class: `wire-row kind-${e.kind} dir-${e.direction}${failed(e) ? ' failed' : ''}${e.detail ? ' openable' : ''}`,
        attrs: { role: 'row', tabindex: -1, 'data-transport': e.transport, ...(e.detail ? { 'aria-expanded': 'false', title: 'Show the whole exchange' } : {}) },
      },
      cell('span', 'w-time', formatClock(e.at)),
      cell('span', 'w-dir', out ? '↑' : '↓', { title: out ? 'sent' : 'received', 'aria-label': out ? 'sent' : 'received' }),
      cell('span', 'w-kind', KIND_LABEL[e.kind], { title: TRANSPORT_SHORT[e.transport] }),
      cell('span', 'w-main', main, { title: main }),
      cell('span', 'w-details', details.join(' · ')),
      cell('span', 'w-bytes', formatBytes(e.bytes)),
      e.summary ? cell('code', 'w-summary', e.summary, { title: e.summary }) : null,
    );
    const detail = e.detail;
    if (detail !== undefined) {
      const toggle = (): void => {
        const open = li.getAttribute('aria-expanded') !== 'true';
        li.setAttribute('aria-expanded', String(open));
        // Focusable (it scrolls) while its row is the Tab stop: Tab from the row goes into it.
        if (open) li.append(h('pre', { class: 'w-detail', attrs: { role: 'gridcell', tabindex: li.tabIndex } }, detail));
        else li.querySelector('.w-detail')?.remove();
      };
      li.addEventListener('click', (ev) => {
        // Selecting text in the opened exchange does not close it.
        if ((ev.target as HTMLElement).closest('.w-detail')) return;
        toggle();
      });
      li.addEventListener('keydown', (ev) => {
        if (ev.target !== li || (ev.key !== 'Enter' && ev.key !== ' ')) return;
        ev.preventDefault();
        toggle();
      });
    }
    return li;
  }

  /** ArrowUp/ArrowDown/Home/End move between rows (the grid's roving tabindex). */
  private onKeyDown(e: KeyboardEvent): void {
    const row = (e.target as HTMLElement).closest('li');
    if (!row || row.parentElement !== this.list || row !== e.target) return;
    let next: Element | null = null;
    if (e.key === 'ArrowDown') next = row.nextElementSibling;
    else if (e.key === 'ArrowUp') next = row.previousElementSibling;
    else if (e.key === 'Home') next = this.list.firstElementChild;
    else if (e.key === 'End') next = this.list.lastElementChild;
    else return;
    e.preventDefault();
    if (next instanceof HTMLLIElement) {
      this.setCurrent(next);
      next.focus();
    }
  }

  /** A row focused (by click, key or Tab) becomes the Tab stop. */
  private onFocusIn(e: FocusEvent): void {
    const row = (e.target as HTMLElement).closest('li');
    if (row && row.parentElement === this.list && row !== this.current) this.setCurrent(row);
  }

  private setCurrent(row: HTMLLIElement): void {
    this.current = row;
    this.updateTabStop();
  }

  /** Exactly one row is the Tab stop: the user's row, else the newest (the view follows it). */
  private updateTabStop(): void {
    const stop = this.current ?? (this.list.lastElementChild as HTMLLIElement | null);
    for (const el of this.list.querySelectorAll<HTMLElement>('[tabindex="0"]')) {
      if (el !== stop && el.parentElement !== stop) el.tabIndex = -1;
    }
    if (stop) {
      stop.tabIndex = 0;
      const detail = stop.querySelector<HTMLElement>(':scope > .w-detail');
      if (detail) detail.tabIndex = 0;
    }
  }

  private renderTotals(): void {
    const s = this.sums;
    replaceChildren(this.totals, `${s.events} events · ${s.requests} HTTP requests · ↑ ${formatBytes(s.bytesOut)} · ↓ ${formatBytes(s.bytesIn)}`);
  }

  private renderHeld(): void {
    this.held.hidden = !this.paused;
    this.held.textContent = this.heldText();
    if (this.paused) this.announceHeld();
    else {
      window.clearTimeout(this.heldTimer);
      this.heldTimer = undefined;
      this.heldStatus.textContent = '';
    }
  }

  private heldText(): string {
    return `Paused: ${this.heldWhilePaused} new event${this.heldWhilePaused === 1 ? '' : 's'} held (the last ${WIRE_ROWS} are kept).`;
  }

  /**
   * Writes the paused count in the status: at once when the pause begins, then at most every
   * HELD_ANNOUNCED_EVERY_MS while it grows, the last count included (a write per event, on a
   * busy transport several a second, was a screen reader saying nothing else).
   */
  private announceHeld(): void {
    if (this.heldTimer !== undefined) return;
    const write = (): void => {
      const text = this.heldText();
      if (this.heldStatus.textContent === text) return;
      this.heldStatus.textContent = text;
      this.heldAnnouncedAt = performance.now();
    };
    const wait = this.heldAnnouncedAt + HELD_ANNOUNCED_EVERY_MS - performance.now();
    if (this.heldStatus.textContent === '' || wait <= 0) {
      write();
      return;
    }
    this.heldTimer = window.setTimeout(() => {
      this.heldTimer = undefined;
      if (this.paused) write();
    }, wait);
  }
}
