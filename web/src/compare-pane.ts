import { connect } from 'switchboard-client';
import { serverBase } from './api.js';
import type { Client, MessageEntry, StatusEvent, TransportName, WireEvent } from 'switchboard-client';
import { claimsForSdk } from './auth.js';
import { renderBars } from './chart.js';
import { h, svg } from './dom.js';
import { messageBody } from './message-body.js';
import { TRANSPORT_LABELS, TRANSPORT_SHORT, formatBytes, formatDuration, formatTime } from './format.js';
import { RetryCountdown } from './retry-countdown.js';
import { PerSecond, percentile } from './stats.js';
import { HTTP_HEADER_BYTES, wireCost } from './wire-cost.js';

export interface PaneOptions {
  transport: TransportName;
  room: string;
  name: string;
  member: string;
  pollIntervalMs: number;
  /** The token to connect with, if the server needs one. */
  token?: string | undefined;
  /** Publish start times (performance.now()) by client message id, shared by the four panes. */
  started: ReadonlyMap<string, number>;
}

/** Latencies kept for the percentiles. */
const KEEP_LATENCIES = 200;
const KEEP_ARRIVALS = 30;

/** A poll answer that brought nothing (the SDK's summary starts with the answer's JSON). */
function isEmptyAnswer(e: WireEvent): boolean {
  return e.kind === 'http' && e.method === 'GET' && /\/(?:long)?poll\b/.test(e.path ?? '') && /"entries":\[\]/.test(e.summary);
}

/**
 * One pane of the Compare view: its own SDK client on one transport, with live counters
 * (requests, bytes on the wire, empty answers, latency p50/p95) and a chart of bytes per second.
 */
export class ComparePane {
  readonly element: HTMLElement;
  private client: Client | undefined;
  private readonly offs: Array<() => void> = [];
  /** The state, in the pane's live region: "Connected · WS", "Reconnecting". */
  private readonly statusText: HTMLElement;
  /** What follows a reconnecting state, outside the live region: " in 3 s", counting down. */
  private readonly waitText: HTMLElement;
  private readonly countdown = new RetryCountdown(() => this.renderWait());
  private readonly counters: Record<'requests' | 'bytes' | 'empty' | 'p50' | 'p95' | 'received', HTMLElement>;
  private readonly chart: SVGSVGElement;
  private readonly arrivals: HTMLOListElement;
  private readonly perSecond = new PerSecond(60);
  private readonly arrivalSeconds = new Set<number>();
  private latencies: number[] = [];
  private sums = { requests: 0, bytes: 0, empty: 0, received: 0 };
  private closed = false;

  constructor(private readonly options: PaneOptions) {
    const label = TRANSPORT_LABELS[options.transport];
    const titleId = `pane-${options.transport}`;
    this.statusText = h('span', null, 'Connecting…');
    this.waitText = h('span', 'pane-status-wait');
    const counter = (name: string, short: string, hint: string): HTMLElement => {
      const value = h('dd', null, '0');
      const term = h('dt', null, h('span', 'long', name), h('span', { class: 'short', attrs: { 'aria-hidden': 'true' } }, short));
      counterList.append(h('div', { class: 'counter', attrs: { title: hint } }, term, value));
      return value;
    };
    const counterList = h('dl', 'counters');
    this.counters = {
      requests: counter('Requests', 'Requests', 'HTTP requests made (polls, publishes, history)'),
      bytes: counter('Bytes on wire', 'Bytes', `Bytes on the wire, both ways: payloads plus an estimate of what frames them (about ${HTTP_HEADER_BYTES} B of HTTP headers per request, a few bytes per WebSocket frame or SSE event)`),
      empty: counter('Empty answers', 'Empty', 'Poll answers that brought nothing'),
      received: counter('Messages', 'Messages', 'Messages received'),
      p50: counter('Latency p50', 'p50', 'Median time from the start of the publish to the arrival here'),
      p95: counter('Latency p95', 'p95', '95th percentile of the same'),
    };
    this.chart = svg('svg', { class: 'chart', role: 'img', 'aria-label': `${label}: bytes on the wire per second, last 60 s` });
    this.arrivals = h('ol', { class: 'arrivals', attrs: { 'aria-label': `Messages received over ${label}` } });
    this.element = h(
      'section',
      { class: `pane pane-${options.transport}`, attrs: { 'aria-labelledby': titleId, 'data-transport': options.transport, 'data-status': 'connecting' } },
      h(
        'header',
        'pane-header',
        h('h2', { attrs: { id: titleId } }, label),
        // A polite live region holding the state only (counters, arrivals and the countdown are
        // outside it): "Short polling: Connected · Poll" or "WebSocket: Reconnecting" is read
        // out when the state changes, not for every message nor for every second of a wait.
        h(
          'span',
          'pane-status',
          h('span', { class: 'status-dot', attrs: { 'aria-hidden': 'true' } }),
          h('span', 'pane-status-text', h('span', { attrs: { role: 'status' } }, h('span', 'visually-hidden', `${label}: `), this.statusText), this.waitText),
        ),
      ),
      counterList,
      h('figure', 'chart-figure', this.chart),
      this.arrivals,
    );
  }

  get transport(): TransportName {
    return this.options.transport;
  }

  get current(): Client | undefined {
    return this.client;
  }

  async start(): Promise<void> {
    try {
      const client = await connect({
        url: serverBase(),
        room: this.options.room,
        ...claimsForSdk(this.options.name, this.options.member),
        ...(this.options.token !== undefined ? { token: this.options.token } : {}),
        transport: this.options.transport,
        pollIntervalMs: this.options.pollIntervalMs,
      });
      if (this.closed) {
        await client.close();
        return;
      }
      this.client = client;
      this.offs.push(
        client.on('wire', (e) => this.onWire(e)),
        client.on('message', (e) => this.onMessage(e)),
        client.on('status', (s) => this.onStatus(s)),
      );
      this.onStatus({ status: client.status, transport: client.transport });
    } catch (err) {
      this.element.dataset.status = 'closed';
      this.setStatusText(`Failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.countdown.stop();
    for (const off of this.offs.splice(0)) off();
    await this.client?.close();
    this.client = undefined;
  }

  resetCounters(): void {
    this.sums = { requests: 0, bytes: 0, empty: 0, received: 0 };
    this.latencies = [];
    this.perSecond.clear();
    this.arrivalSeconds.clear();
    this.arrivals.replaceChildren();
    this.render(1);
  }

  /** Peak of the chart's series (the view scales the four charts alike). */
  peak(now = Date.now()): number {
    return Math.max(0, ...this.perSecond.series(now));
  }

  /** Redraws counters and chart with the shared scale `max`. */
  render(max: number, now = Date.now()): void {
    const s = this.sums;
    this.counters.requests.textContent = String(s.requests);
    this.counters.bytes.textContent = formatBytes(s.bytes);
    this.counters.empty.textContent = String(s.empty);
    this.counters.received.textContent = String(s.received);
    const p50 = percentile(this.latencies, 50);
    const p95 = percentile(this.latencies, 95);
    this.counters.p50.textContent = p50 === undefined ? '–' : formatDuration(p50);
    this.counters.p95.textContent = p95 === undefined ? '–' : formatDuration(p95);
    const first = Math.floor(now / 1000) - 59;
    const marks = new Set<number>();
    for (const second of this.arrivalSeconds) {
      if (second < first) this.arrivalSeconds.delete(second);
      else marks.add(second - first);
    }
    renderBars(this.chart, this.perSecond.series(now), max, marks);
  }

  private onWire(e: WireEvent): void {
    if (e.kind === 'http') this.sums.requests++;
    if (isEmptyAnswer(e)) this.sums.empty++;
    const cost = wireCost(e);
    this.sums.bytes += cost;
    this.perSecond.add(cost, e.at);
  }

  private onMessage(entry: MessageEntry): void {
    const now = performance.now();
    const start = entry.clientId ? this.options.started.get(entry.clientId) : undefined;
    const latency = start === undefined ? undefined : now - start;
    this.sums.received++;
    this.arrivalSeconds.add(Math.floor(Date.now() / 1000));
    if (latency !== undefined) {
      this.latencies.push(latency);
      if (this.latencies.length > KEEP_LATENCIES) this.latencies.shift();
    }
    const item = h(
      'li',
      { attrs: { 'data-client-id': entry.clientId ?? '' } },
      messageBody(entry, 'span', 'arrival-text'),
      h('span', 'arrival-meta', latency === undefined ? `${entry.from.name} · ${formatTime(entry.ts)}` : h('span', { class: 'latency', attrs: { title: 'From the start of the publish to its arrival here' } }, formatDuration(latency))),
    );
    this.arrivals.prepend(item);
    while (this.arrivals.childElementCount > KEEP_ARRIVALS) this.arrivals.lastElementChild!.remove();
  }

  private onStatus(s: StatusEvent): void {
    this.element.dataset.status = s.status;
    this.countdown.update(s);
    this.setStatusText(s.status === 'connected' ? `Connected · ${TRANSPORT_SHORT[s.transport]}` : `${s.status[0]!.toUpperCase()}${s.status.slice(1)}`);
    this.renderWait();
  }

  /** " in 3 s" after "Reconnecting" (or "…" while the attempt runs); nothing in other states. */
  private renderWait(): void {
    const wait = this.element.dataset.status === 'reconnecting' ? this.countdown.suffix() : '';
    if (this.waitText.textContent !== wait) this.waitText.textContent = wait;
  }

  /** Writes the state shown only when it changed: a write of the same text may be read out again. */
  private setStatusText(text: string): void {
    if (this.statusText.textContent !== text) this.statusText.textContent = text;
  }
}
