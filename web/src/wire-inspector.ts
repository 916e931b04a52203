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

/** One cell of a row of the grid (reached by the arrow keys, so focusable, but not a Tab stop). */
function cell(tag: 'span' | 'code', className: string, text: string, attrs: Record<string, string> = {}): HTMLElement {
  return h(tag, { class: className, attrs: { role: 'gridcell', tabindex: -1, ...attrs } }, text);
}

/**
 * The grid's columns, in the order of the cells in a row (a row leaves out those it has nothing
 * for; an opened row adds its whole exchange last). ArrowUp/ArrowDown keep to a column.
 */
const COLUMNS = ['w-time', 'w-dir', 'w-kind', 'w-main', 'w-bytes', 'w-details', 'w-summary', 'w-detail'] as const;

/** The cells of a row of the grid, in order. */
function cellsOf(row: Element): HTMLElement[] {
  return [...row.children].filter((c): c is HTMLElement => c instanceof HTMLElement && c.getAttribute('role') === 'gridcell');
}

/** The column of `cell` (-1 for the single cell of a note). */
function columnOf(cell: Element): number {
  return COLUMNS.findIndex((name) => cell.classList.contains(name));
}

/** The cell of `row` in `column`, else the nearest one before it, else the row's first. */
function cellIn(row: Element, column: number): HTMLElement | undefined {
  const cells = cellsOf(row);
  let found = cells[0];
  for (const c of cells) {
    const at = columnOf(c);
    if (at !== -1 && at <= column) found = c;
  }
  return found;
}

/** The fewest ms between two announcements of the paused count while it grows. */
const HELD_ANNOUNCED_EVERY_MS = 5000;

/**
 * The fewest ms between two renderings of new rows. Each one lays out and paints the panel
 * again (about 8 ms of a renderer's CPU on a desktop page, measured): once per event, a busy
 * room's frames took more of the page than its messages did.
 */
export const WIRE_FLUSH_EVERY_MS = 200;

const KIND_LABEL: Record<WireEvent['kind'], string> = { http: 'HTTP', sse: 'SSE', ws: 'WS', heartbeat: 'Beat' };

/**
 * The "Wire inspector" panel: what the transport in use does on the wire, one row per HTTP
 * exchange, SSE event, WebSocket frame or heartbeat (the SDK's `wire` events), the last 200,
 * with totals, Pause and Clear. Rows are added in an animation frame, at most every
 * WIRE_FLUSH_EVERY_MS.
 *
 * The rows are a WAI-ARIA grid (a row is a record: time, direction, kind, what, bytes, details,
 * summary) that is one Tab stop, on a cell (a roving tabindex: the user's cell, else the first of
 * the newest row). As the grid pattern has it, ArrowLeft/ArrowRight move within a row,
 * ArrowUp/ArrowDown between rows in the same column, Home/End to the row's first and last cell,
 * Ctrl+Home/Ctrl+End to the first and last cell of the grid; Enter or Space on any cell of a row
 * opens it to its whole exchange (a cell of its own, last in the row, which PageUp/PageDown
 * scroll) and closes it. With one Tab stop per row, hundreds of rows stood between a keyboard
 * user and the rest of the page; with the focus on rows, a screen reader read a whole row as
 * one string, and a cell could not be read alone.
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
  /** The wait before the next frame asked for, when the last rendering was too recent. */
  private flushTimer: number | undefined;
  private lastFlush = -Infinity;
  private sums = { events: 0, requests: 0, bytesIn: 0, bytesOut: 0 };
  /** The cell that is the grid's Tab stop once the user moved to one (else the newest row's first is). */
  private current: HTMLElement | undefined;
  /** The column ArrowUp/ArrowDown keep to (a note, of one cell, does not change it). */
  private column = 0;
  /** What Enter or Space does on a cell of a row that opens: open or close it. */
  private readonly toggles = new WeakMap<Element, () => void>();
  private readonly scroller: HTMLElement;
  /**
   * Whether the list follows the newest rows: true until the user scrolls up, true again once
   * they scroll back to the bottom. Kept here rather than read from the scroll position when
   * rows come: a panel out of the page (the chat hidden for Compare) has no position, and one put
   * back starts at the top, which read as "the user scrolled up" and stopped the following.
   */
  private stuck = true;
  /** Where the user left the list when not following (put back when the panel shows again). */
  private savedScrollTop = 0;
  private readonly resizes: ResizeObserver;

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
      // Not a Tab stop of its own: the grid in it is one, and a focused cell is scrolled into view.
      (this.scroller = h('div', { class: 'wire-scroll', on: { scroll: () => this.onScroll() } }, this.list)),
      this.held,
      this.heldStatus,
    );
    this.renderTotals();
    // The panel shown again (back from Compare, reopened, or resized): back to where it was.
    this.resizes = new ResizeObserver(() => this.restoreScroll());
    this.resizes.observe(this.scroller);
  }

  push(event: WireEvent): void {
    this.sums.events++;
    if (event.kind === 'http') this.sums.requests++;
    if (event.direction === 'in') this.sums.bytesIn += event.bytes;
    else this.sums.bytesOut += event.bytes;
    // A request with a body counts it as sent; its answer came in.
    if (event.direction === 'out') this.sums.bytesIn += event.responseBytes ?? 0;
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
    this.stuck = true;
    this.list.replaceChildren();
    this.renderTotals();
    this.renderHeld();
  }

  destroy(): void {
    this.resizes.disconnect();
    cancelAnimationFrame(this.frame);
    window.clearTimeout(this.flushTimer);
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
    if (this.frame || this.flushTimer !== undefined) return;
    const wait = this.lastFlush + WIRE_FLUSH_EVERY_MS - performance.now();
    if (wait <= 0) this.frame = requestAnimationFrame(() => this.flush());
    else
      this.flushTimer = window.setTimeout(() => {
        this.flushTimer = undefined;
        this.frame = requestAnimationFrame(() => this.flush());
      }, wait);
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
    this.lastFlush = performance.now();
    if (this.paused || this.queue.length === 0) {
      this.renderTotals();
      return;
    }
    const focusInList = this.list.contains(document.activeElement);
    // A keyboard user reading a row is not scrolled away from it by new ones.
    const follow = !focusInList && this.stuck;
    const fragment = document.createDocumentFragment();
    for (const item of this.queue) fragment.append(typeof item === 'string' ? h('li', { class: 'wire-note', attrs: { role: 'row' } }, h('span', { attrs: { role: 'gridcell', tabindex: -1 } }, item)) : this.row(item));
    this.queue = [];
    this.list.append(fragment);
    while (this.list.childElementCount > WIRE_ROWS) this.list.firstElementChild!.remove();
    if (this.current && !this.current.isConnected) {
      // The row the user was on was dropped (the oldest go first): the oldest one kept, its
      // neighbour, takes its place (in the same column), and the focus with it.
      this.current = undefined;
      const first = this.list.firstElementChild && cellIn(this.list.firstElementChild, this.column);
      if (first) {
        this.setCurrent(first);
        if (focusInList) first.focus({ preventScroll: true });
      }
    }
    this.updateTabStop();
    if (follow) this.toBottom();
    this.renderTotals();
  }

  /** Whether the list is laid out (not out of the page, nor in a closed panel). */
  private shown(): boolean {
    return this.scroller.isConnected && this.scroller.clientHeight > 0;
  }

  private toBottom(): void {
    if (this.shown()) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** A scroll of a shown list: following while at the bottom (within 40 px), else not. */
  private onScroll(): void {
    if (!this.shown()) return;
    const s = this.scroller;
    this.stuck = s.scrollHeight - s.scrollTop - s.clientHeight < 40;
    if (!this.stuck) this.savedScrollTop = s.scrollTop;
  }

  private restoreScroll(): void {
    if (!this.shown()) return;
    if (this.stuck) this.toBottom();
    else if (this.scroller.scrollTop !== this.savedScrollTop) this.scroller.scrollTop = this.savedScrollTop;
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
        attrs: { role: 'row', 'data-transport': e.transport, ...(e.detail ? { 'aria-expanded': 'false', title: 'Show the whole exchange' } : {}) },
      },
      cell('span', 'w-time', formatClock(e.at)),
      cell('span', 'w-dir', out ? '↑' : '↓', { title: out ? 'sent' : 'received', 'aria-label': out ? 'sent' : 'received' }),
      cell('span', 'w-kind', KIND_LABEL[e.kind], { title: TRANSPORT_SHORT[e.transport] }),
      cell('span', 'w-main', main, { title: main }),
      cell('span', 'w-bytes', formatBytes(e.bytes)),
      details.length ? cell('span', 'w-details', details.join(' · ')) : null,
      this.summaryCell(e),
    );
    const detail = e.detail;
    if (detail !== undefined) {
      const toggle = (): void => {
        const open = li.getAttribute('aria-expanded') !== 'true';
        li.setAttribute('aria-expanded', String(open));
        if (open) {
          li.append(h('pre', { class: 'w-detail', attrs: { role: 'gridcell', tabindex: -1 } }, detail));
          return;
        }
        const shown = li.querySelector<HTMLElement>(':scope > .w-detail');
        if (!shown) return;
        const focused = shown.contains(document.activeElement);
        shown.remove();
        // Closed from its own cell: the focus stays in the row, on the cell before.
        if (this.current === shown) {
          const last = cellsOf(li).at(-1)!;
          this.setCurrent(last);
          if (focused) last.focus();
        }
      };
      this.toggles.set(li, toggle);
      li.addEventListener('click', (ev) => {
        // Selecting text in the opened exchange does not close it.
        if ((ev.target as HTMLElement).closest('.w-detail')) return;
        toggle();
      });
    }
    return li;
  }

  /**
   * What the row says of its payload. An HTTP exchange with a body sent shows it and the answer
   * apart, "→ {sent}" then "← 201 {answer}" ("no body" for a 204): one text led by the status
   * read as if the server had answered the body sent.
   */
  private summaryCell(e: WireEvent): HTMLElement | null {
    if (e.kind === 'http' && e.requestSummary !== undefined && e.responseSummary !== undefined) {
      const answer = `← ${e.status ?? ''} ${e.responseSummary || 'no body'}`;
      const c = cell('code', 'w-summary', '', { title: `sent: ${e.requestSummary}\nanswer: ${answer.slice(2)}` });
      c.append(h('span', 'w-sent', `→ ${e.requestSummary}`), ' ', h('span', 'w-answer', answer));
      return c;
    }
    return e.summary ? cell('code', 'w-summary', e.summary, { title: e.summary }) : null;
  }

  /** The grid's keys on a cell: arrows, Home/End (Ctrl: of the grid), Enter and Space. */
  private onKeyDown(e: KeyboardEvent): void {
    const at = (e.target as HTMLElement).closest<HTMLElement>('[role="gridcell"]');
    const row = at?.parentElement;
    if (!at || !row || row.parentElement !== this.list || e.altKey || e.metaKey) return;
    if (e.key === 'Enter' || e.key === ' ') {
      const toggle = this.toggles.get(row);
      if (!toggle) return;
      e.preventDefault();
      toggle();
      return;
    }
    const next = this.cellFor(e.key, e.ctrlKey, at, row);
    if (next === undefined) return;
    e.preventDefault();
    if (next === null) return;
    this.setCurrent(next);
    next.focus();
  }

  /**
   * Where `key` moves from the cell `at` of `row`: a cell, null to stay (at an edge of the
   * grid), undefined for a key the grid leaves alone.
   */
  private cellFor(key: string, ctrl: boolean, at: HTMLElement, row: Element): HTMLElement | null | undefined {
    const cells = cellsOf(row);
    const index = cells.indexOf(at);
    const first = this.list.firstElementChild;
    const last = this.list.lastElementChild;
    switch (key) {
      case 'ArrowRight':
        return ctrl ? undefined : (cells[index + 1] ?? null);
      case 'ArrowLeft':
        return ctrl ? undefined : (cells[index - 1] ?? null);
      case 'ArrowDown':
        return row.nextElementSibling ? (cellIn(row.nextElementSibling, this.column) ?? null) : null;
      case 'ArrowUp':
        return row.previousElementSibling ? (cellIn(row.previousElementSibling, this.column) ?? null) : null;
      case 'Home':
        return (ctrl ? first && cellsOf(first)[0] : cells[0]) ?? null;
      case 'End':
        return (ctrl ? last && cellsOf(last).at(-1) : cells.at(-1)) ?? null;
      default:
        return undefined;
    }
  }

  /** A cell focused (by click, key or Tab) becomes the Tab stop. */
  private onFocusIn(e: FocusEvent): void {
    const at = (e.target as HTMLElement).closest<HTMLElement>('[role="gridcell"]');
    if (at && at.parentElement?.parentElement === this.list && at !== this.current) this.setCurrent(at);
  }

  private setCurrent(cell: HTMLElement): void {
    this.current = cell;
    // A note's one cell is in no column: ArrowDown past it comes back to the column left.
    const column = columnOf(cell);
    if (column !== -1) this.column = column;
    this.updateTabStop();
  }

  /** Exactly one cell is the Tab stop: the user's cell, else the newest row's first (the view follows it). */
  private updateTabStop(): void {
    const newest = this.list.lastElementChild;
    const stop = this.current ?? (newest ? cellsOf(newest)[0] : undefined);
    for (const el of this.list.querySelectorAll<HTMLElement>('[tabindex="0"]')) {
      if (el !== stop) el.tabIndex = -1;
    }
    if (stop) stop.tabIndex = 0;
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
