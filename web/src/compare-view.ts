import type { TransportName } from 'switchboard-client';
import { TRANSPORTS } from 'switchboard-client';
import { auth } from './auth.js';
import { ComparePane } from './compare-pane.js';
import { Composer } from './composer.js';
import { h, icon, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS, TRANSPORT_SHORT } from './format.js';
import { pollIntervalField, transportField } from './settings-controls.js';
import { createRoom } from './rooms.js';
import { randomToken, storage } from './storage.js';

export interface CompareViewOptions {
  name: string;
  member: string;
}

const AUTO_SEND_MS = 2000;
const STARTS_KEPT = 500;
/**
 * A message not acknowledged after this long shows as being sent (the SDK waits and sends it
 * again while the server answers RATE_LIMITED, or while the pane is reconnecting); sooner, it
 * would flash (and be read out) for every message.
 */
const PENDING_SHOWN_AFTER_MS = 400;

/** Where Compare's four clients join: a room of their own (the default) or the chat's room. */
export type CompareWhere = 'own' | 'chat';

/**
 * The Compare view: one room joined four times, once per transport, side by side. A message
 * sent here shows in each pane with its latency; the panes count requests, bytes and empty
 * answers, so the cost of each transport is seen at a glance.
 *
 * By default the room is one of its own, `compare-<random>` (one per browser), made when first
 * needed: in the chat's room the four clients were four more members for everyone there,
 * with join and leave lines and the test messages in their chat. Comparing in the chat's room is
 * a choice the user makes, and the view then says who sees it.
 */
export class CompareView {
  readonly element: HTMLElement;
  private panes: ComparePane[] = [];
  private readonly grid: HTMLElement;
  private readonly intro: HTMLElement;
  private readonly error: HTMLElement;
  /** Messages sent from here and not yet acknowledged (as the chat's pending bubbles). */
  private readonly pendingList: HTMLOListElement;
  private readonly started = new Map<string, number>();
  private sendFrom: TransportName = 'websocket';
  private tick: number | undefined;
  private autoTimer: number | undefined;
  private autoCount = 0;
  /** The chat's room (Compare's room when the user chose it). */
  private chatRoom = '';
  /** The room the panes join now ('' while none). */
  private room = '';
  private where: CompareWhere = 'own';
  /** This browser's room of its own, made by the first start that needs it. */
  private readonly ownRoom = storage.compareRoom;
  private ownRoomMade = false;
  /** Bumped by each start and stop: a start overtaken by another gives up. */
  private generation = 0;
  private readonly autoBox: HTMLInputElement;
  private readonly whereInputs: Record<CompareWhere, HTMLInputElement>;
  private readonly whereLabels: Record<CompareWhere, HTMLElement>;

  constructor(private options: CompareViewOptions) {
    const composer = new Composer({ id: 'compare-message', placeholder: 'Message all four panes', onSend: (text) => this.send(text, composer), maxBytes: () => auth.info.maxMessageBytes });
    const from = transportField(this.sendFrom, (t) => (this.sendFrom = t), 'Send from');
    const interval = pollIntervalField(storage.pollIntervalMs, (ms) => {
      storage.pollIntervalMs = ms;
      void this.restartPane('polling');
    });
    this.autoBox = h('input', { attrs: { type: 'checkbox', id: 'auto-send' }, on: { change: () => this.setAuto(this.autoBox.checked) } });
    const whereInput = (value: CompareWhere): HTMLInputElement =>
      h('input', { attrs: { type: 'radio', name: 'compare-where', id: `compare-where-${value}`, value, checked: value === this.where }, on: { change: () => void this.setWhere(value) } });
    this.whereInputs = { own: whereInput('own'), chat: whereInput('chat') };
    this.whereLabels = { own: h('label', { attrs: { for: 'compare-where-own' } }), chat: h('label', { attrs: { for: 'compare-where-chat' } }) };
    const whereField = h(
      'fieldset',
      'compare-where',
      h('legend', null, 'Compare in'),
      h('div', 'field check', this.whereInputs.own, this.whereLabels.own),
      h('div', 'field check', this.whereInputs.chat, this.whereLabels.chat),
    );
    this.grid = h('div', 'panes');
    this.intro = h('p', 'muted compare-intro');
    this.error = h('p', { class: 'field-error', attrs: { role: 'alert', hidden: true } });
    this.pendingList = h('ol', { class: 'compare-pending', attrs: { 'aria-label': 'Messages being sent', 'aria-live': 'polite' } });
    this.element = h(
      'main',
      { class: 'compare', attrs: { 'aria-labelledby': 'compare-title' } },
      h(
        'div',
        'compare-top',
        h('div', null, h('h1', { attrs: { id: 'compare-title' } }, 'Compare transports'), this.intro, whereField),
        h(
          'div',
          'compare-controls',
          from.element,
          interval.element,
          h('div', 'field check', this.autoBox, h('label', { attrs: { for: 'auto-send' } }, `Send a message every ~${AUTO_SEND_MS / 1000} s`)),
          h('button', { class: 'small', attrs: { type: 'button' }, on: { click: () => this.panes.forEach((p) => p.resetCounters()) } }, icon('trash'), h('span', null, 'Reset counters')),
        ),
      ),
      composer.element,
      this.pendingList,
      this.error,
      h('p', 'chart-legend', 'Charts: bytes on the wire per second over the last 60 s, on the same scale in every pane; ', h('span', { class: 'mark-key', attrs: { 'aria-hidden': 'true' } }), ' marks the second a message arrived.'),
      this.grid,
      h(
        'section',
        { class: 'explain', attrs: { 'aria-labelledby': 'explain-title' } },
        h('h2', { attrs: { id: 'explain-title' } }, 'What you are looking at'),
        h(
          'ul',
          null,
          h('li', null, h('strong', null, 'WebSocket'), ' keeps one connection open both ways: a message is one small frame, no request, no headers. Lowest latency and bytes.'),
          h('li', null, h('strong', null, 'Server-Sent Events'), ' keep one HTTP response open and stream each message as an event with its id, so a reconnect resumes where it stopped. As fast as WebSocket for receiving; sending is an HTTP request.'),
          h('li', null, h('strong', null, 'Long polling'), ' holds each request until something happens (or 25 s pass): latency is good, but every message costs a whole new request with its headers, and an idle room still makes a request every 25 s.'),
          h('li', null, h('strong', null, 'Short polling'), ' asks every interval whether anything happened: latency is up to one interval, and most answers are empty, paid for with requests and bytes even when the room is quiet. (Sent from it, a message comes back at once: the client asks again as soon as its send is acknowledged.)'),
        ),
      ),
    );
  }

  /**
   * Joins four times (called when the view is shown, `chatRoom` being the chat's room): the
   * room of its own unless the user chose the chat's room.
   */
  async start(chatRoom: string): Promise<void> {
    await this.stop();
    const generation = this.generation;
    this.chatRoom = chatRoom;
    this.renderWhere();
    const room = this.where === 'chat' ? chatRoom : await this.makeOwnRoom();
    if (generation !== this.generation) return;
    if (room === undefined) {
      replaceChildren(this.grid);
      return;
    }
    this.room = room;
    replaceChildren(
      this.intro,
      'Room ',
      h('strong', null, `#${room}`),
      this.where === 'chat'
        ? ', the room you are in, joined four times: once per transport, each with its own client. Its members see these four clients and what you send here.'
        : `, a room of its own, joined four times: once per transport, each with its own client. The people of #${chatRoom} see none of it. Send a message and watch it arrive in each pane.`,
    );
    this.panes = TRANSPORTS.map((t) => this.makePane(t));
    replaceChildren(this.grid, ...this.panes.map((p) => p.element));
    this.tick = window.setInterval(() => this.render(), 500);
    await Promise.all(this.panes.map((p) => p.start()));
  }

  /** Makes the room of its own (once: PUT is idempotent, but a page needs it made only once); undefined, said on screen, when refused. */
  private async makeOwnRoom(): Promise<string | undefined> {
    if (this.ownRoomMade) return this.ownRoom;
    replaceChildren(this.intro, 'Making a room of its own, ', h('strong', null, `#${this.ownRoom}`), '…');
    try {
      await createRoom(this.ownRoom);
      this.ownRoomMade = true;
      return this.ownRoom;
    } catch (err) {
      // A token without the `create` right: nothing joins until the user chooses the chat's room.
      replaceChildren(this.intro, `Compare could not make a room of its own (${err instanceof Error ? err.message : String(err)}). Choose “${this.whereText('chat')}” to compare there.`);
      return undefined;
    }
  }

  private async setWhere(where: CompareWhere): Promise<void> {
    if (where === this.where) return;
    this.where = where;
    await this.start(this.chatRoom);
  }

  private renderWhere(): void {
    for (const where of ['own', 'chat'] as const) {
      this.whereInputs[where].checked = where === this.where;
      this.whereLabels[where].textContent = this.whereText(where);
    }
  }

  private whereText(where: CompareWhere): string {
    return where === 'own' ? `A room of its own, #${this.ownRoom} (the people of #${this.chatRoom} see nothing)` : `This room, #${this.chatRoom} (its members see the four clients and your messages)`;
  }

  /** New credentials (a token, a renewal, another user): panes that are up join again with them. */
  async credentialsChanged(identity: CompareViewOptions): Promise<void> {
    this.options = { ...identity };
    // Another user may not have the rights of the last: the room of its own is made again.
    this.ownRoomMade = false;
    if (this.panes.length) await this.start(this.chatRoom);
  }

  /** Leaves (called when the view is hidden). */
  async stop(): Promise<void> {
    this.generation++;
    this.room = '';
    window.clearInterval(this.tick);
    this.setAuto(false);
    const panes = this.panes;
    this.panes = [];
    this.pendingList.replaceChildren();
    await Promise.all(panes.map((p) => p.close()));
  }

  private makePane(transport: TransportName): ComparePane {
    return new ComparePane({
      transport,
      room: this.room,
      name: `${this.options.name} · ${TRANSPORT_SHORT[transport]}`.slice(0, 64),
      member: `${this.options.member}-cmp-${transport}`.slice(0, 64),
      pollIntervalMs: storage.pollIntervalMs,
      token: auth.token,
      started: this.started,
    });
  }

  private async restartPane(transport: TransportName): Promise<void> {
    const index = this.panes.findIndex((p) => p.transport === transport);
    const old = this.panes[index];
    if (!old) return;
    const pane = this.makePane(transport);
    this.panes[index] = pane;
    old.element.replaceWith(pane.element);
    await old.close();
    await pane.start();
  }

  /** Sends `text` from the chosen pane; a typed message not sent goes back to its `box`, not lost. */
  private send(text: string, box?: Composer): void {
    const client = this.panes.find((p) => p.transport === this.sendFrom)?.current;
    if (!client) {
      this.showError(`The ${TRANSPORT_LABELS[this.sendFrom]} pane is not connected yet.`);
      box?.restore(text, undefined);
      return;
    }
    this.showError(undefined);
    const clientId = `cmp-${randomToken(16)}`;
    this.started.set(clientId, performance.now());
    if (this.started.size > STARTS_KEPT) this.started.delete(this.started.keys().next().value!);
    const sent = this.showPending(text);
    client.publish(text, { clientId }).then(sent, (err: unknown) => {
      sent();
      box?.restore(text, undefined);
      this.showError(`Not sent: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  /**
   * Shows `text` as being sent once it has waited PENDING_SHOWN_AFTER_MS (before, a message the
   * server refused for a while showed nothing until it arrived); the function returned takes it
   * away.
   */
  private showPending(text: string): () => void {
    let item: HTMLLIElement | undefined;
    const timer = window.setTimeout(() => {
      item = h('li', null, h('span', { class: 'spinner', attrs: { 'aria-hidden': 'true' } }), h('span', 'pending-text', `Sending “${text}”…`));
      this.pendingList.append(item);
    }, PENDING_SHOWN_AFTER_MS);
    return () => {
      window.clearTimeout(timer);
      item?.remove();
    };
  }

  private setAuto(on: boolean): void {
    window.clearTimeout(this.autoTimer);
    this.autoTimer = undefined;
    this.autoBox.checked = on;
    if (on) {
      // Jittered (±40 %): a fixed period would beat with the polling interval and show one
      // latency over and over instead of its spread.
      const sendOne = (): void => {
        this.send(`Test message ${++this.autoCount}`);
        this.autoTimer = window.setTimeout(sendOne, AUTO_SEND_MS * (0.6 + Math.random() * 0.8));
      };
      sendOne();
    }
  }

  private render(): void {
    const now = Date.now();
    const max = Math.max(1, ...this.panes.map((p) => p.peak(now)));
    for (const pane of this.panes) pane.render(max, now);
  }

  private showError(text: string | undefined): void {
    this.error.hidden = text === undefined;
    this.error.textContent = text ?? '';
  }
}
