import { backoffDelay, ConnectionError, SwitchboardError } from 'switchboard-client';
import type { Client, Entry, PresenceMember, StatusEvent, TransportName } from 'switchboard-client';
import { detailOf, isAccessError, isAuthError } from './api.js';
import { auth } from './auth.js';
import { ChatSession } from './chat-session.js';
import { Composer } from './composer.js';
import { h, icon, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS } from './format.js';
import { MessageList } from './message-list.js';
import { collapsedLine, presenceChanges } from './presence-changes.js';
import { PresenceList } from './presence-list.js';
import { RoomList } from './room-list.js';
import { pollIntervalField, transportField } from './settings-controls.js';
import { StatusBadge } from './status-badge.js';
import { createRoom, roomPresence } from './rooms.js';
import { randomToken, storage } from './storage.js';
import { TypingIndicator } from './typing-indicator.js';
import { WireInspector } from './wire-inspector.js';

export interface ChatViewOptions {
  name: string;
  member: string;
  /** The user opened another room (the router updates the address). */
  navigate(room: string): void;
  /**
   * The server refused the credentials (or the user asked to change them): ask for new ones
   * (token dialog or dev login). New credentials come back through credentialsChanged().
   */
  reauth(problem: SwitchboardError | undefined): void;
}

const WIDE = '(min-width: 1200px)';
/** How long leaving a room waits for its messages in flight to be acknowledged. */
const LEAVE_GRACE_MS = 5000;

/**
 * The chat: rooms and people on the left, the conversation in the middle, the wire inspector on
 * the right. It keeps its connection while another view is shown.
 */
export class ChatView {
  readonly element: HTMLElement;
  private readonly rooms: RoomList;
  private readonly presence: PresenceList;
  private readonly badge = new StatusBadge();
  private readonly inspector: WireInspector;
  private readonly typing: TypingIndicator;
  private readonly composer: Composer;
  private readonly title: HTMLElement;
  private readonly body: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly transportSelect: HTMLSelectElement;
  private readonly intervalSelect: HTMLSelectElement;
  private readonly sidebarToggle: HTMLButtonElement;
  private readonly wireToggle: HTMLButtonElement;
  private list: MessageList | undefined;
  private session: ChatSession | undefined;
  private room = '';
  private epoch = '';
  private status: StatusEvent | undefined;
  private openToken = 0;
  private loadingOlder = false;
  private unseen = 0;
  private visible = false;
  private presenceTimer: number | undefined;
  /** The presence list of the last notice (joins and leaves are told from it); undefined before the room is joined. */
  private members: PresenceMember[] | undefined;
  /** The server writes join and leave entries (so no line is made from notices). */
  private presenceEntries = false;
  /** The last error the SDK reported for this room (tells why a connection was closed). */
  private lastError: SwitchboardError | undefined;
  /** The connection failed on its credentials: new ones reopen the room. */
  private authFailed = false;
  /** The session whose first connection failed for good (room not found, refused): `open` of its room tries it again. */
  private stalled: ChatSession | undefined;
  /** Presence is checked against the server this often, and this long after each change. */
  private static readonly PRESENCE_CHECK_MS = 5000;
  private static readonly PRESENCE_SETTLE_MS = 3500;

  constructor(private options: ChatViewOptions) {
    this.rooms = new RoomList({ me: () => this.options.member, current: () => this.room, onOpen: (room) => { this.showSidebar(false); options.navigate(room); } });
    this.presence = new PresenceList(options.member);
    this.typing = new TypingIndicator(options.member);
    this.inspector = new WireInspector({ onClose: () => this.showWire(false) });
    this.composer = new Composer({ id: 'message-input', placeholder: 'Message', onSend: (text) => this.send(text), onTyping: () => this.onTyping() });
    this.title = h('h1', { class: 'room-title', attrs: { id: 'room-title' } });
    this.body = h('div', 'conversation');
    this.banner = h('div', { class: 'banner', attrs: { role: 'alert', hidden: true } });

    const transport = transportField(storage.transport, (t) => void this.changeTransport(t));
    this.transportSelect = transport.select;
    const interval = pollIntervalField(storage.pollIntervalMs, (ms) => this.changePollInterval(ms));
    this.intervalSelect = interval.select;

    this.sidebarToggle = h('button', { class: 'icon-only sidebar-toggle', attrs: { type: 'button', 'aria-label': 'Rooms and people', 'aria-expanded': 'false', 'aria-controls': 'chat-sidebar' }, on: { click: () => this.showSidebar(!this.element.classList.contains('sidebar-open')) } }, icon('menu'));
    const wideNow = matchMedia(WIDE).matches;
    this.wireToggle = h('button', { class: 'small wire-toggle', attrs: { type: 'button', 'aria-label': 'Wire inspector', title: 'Show or hide the wire inspector', 'aria-expanded': String(wideNow), 'aria-controls': 'wire-panel' }, on: { click: () => this.showWire(!this.element.classList.contains('wire-open')) } }, icon('wire'), h('span', null, 'Wire'));
    this.inspector.element.id = 'wire-panel';

    const sidebar = h('aside', { class: 'sidebar', attrs: { id: 'chat-sidebar', 'aria-label': 'Rooms and people' } }, this.rooms.element, this.presence.element);
    const main = h(
      'main',
      { class: 'chat-main', attrs: { 'aria-labelledby': 'room-title' } },
      h('header', 'chat-header', this.sidebarToggle, this.title, this.badge.element, this.wireToggle),
      h('div', 'chat-toolbar', transport.element, interval.element),
      this.banner,
      this.body,
      this.typing.element,
      this.composer.element,
    );
    const scrim = h('div', { class: 'scrim', attrs: { 'aria-hidden': 'true' }, on: { click: () => { this.showSidebar(false); if (!matchMedia(WIDE).matches) this.showWire(false); } } });
    this.element = h('div', { class: `chat-layout${wideNow ? ' wire-open' : ''}`, on: { keydown: (e) => this.onKeyDown(e) } }, sidebar, main, this.inspector.element, scrim);

    document.addEventListener('visibilitychange', () => this.onVisibility());
    window.addEventListener('online', () => this.badge.update(this.status));
    window.addEventListener('offline', () => this.badge.update(this.status));
    this.rooms.start();
  }

  /** Shown (true) or hidden (false) by the router. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible) {
      // The Compare view may have changed the polling interval meanwhile.
      if (this.intervalSelect.value !== String(storage.pollIntervalMs)) {
        this.intervalSelect.value = String(storage.pollIntervalMs);
        this.changePollInterval(storage.pollIntervalMs);
      }
      this.onVisibility();
      this.list?.scrollToBottom(false);
    }
    this.updateTitle();
  }

  /** A notice in the chat's alert banner (until the next change of state). */
  notice(text: string): void {
    this.showBanner(text);
  }

  focusComposer(): void {
    this.composer.focus();
  }

  /** Joins `room` (leaving the current one). */
  async open(room: string): Promise<void> {
    if (room === this.room && this.session) {
      // The room may exist now (made from the sidebar, or by someone else): try again, with
      // the messages written meanwhile still queued in the same session.
      if (this.stalled === this.session) await this.rejoin();
      return;
    }
    const token = ++this.openToken;
    const previous = this.session;
    this.session = undefined;
    this.stalled = undefined;
    this.list?.destroy();
    if (previous) void this.leave(previous);
    this.room = room;
    storage.room = room;
    this.epoch = '';
    this.unseen = 0;
    this.status = undefined;
    this.lastError = undefined;
    this.authFailed = false;
    this.badge.update(undefined);
    this.typing.clear();
    this.presence.render([]);
    this.members = undefined;
    this.presenceEntries = false;
    this.showBanner(undefined);
    replaceChildren(this.title, h('span', { class: 'hash', attrs: { 'aria-hidden': 'true' } }, '#'), room);
    this.composer.setPlaceholder(auth.mayWrite(room) ? `Message #${room}` : `Message #${room} (you may only read here)`);
    this.rooms.renderList();
    this.updateTitle();

    const list = new MessageList({ me: this.options.member, room, onLoadOlder: () => void this.loadOlder(), onRetry: (id) => this.retry(id) });
    this.list = list;
    replaceChildren(this.body, list.element);
    list.setHistory('loading');

    const session = new ChatSession(
      { room, name: this.options.name, member: this.options.member, transport: storage.transport, pollIntervalMs: storage.pollIntervalMs, token: () => auth.token },
      {
        entry: (e) => this.onEntry(e),
        presence: (m) => {
          this.notePresence(m);
          this.presence.render(m, this.status?.status === 'connected');
          this.checkPresenceSoon(ChatView.PRESENCE_SETTLE_MS);
        },
        typing: (t) => this.typing.onTyping(t),
        status: (s) => this.onStatus(s),
        reset: (r) => {
          this.list?.clear();
          this.inspector.note(`History reset (${r.reason}): entries start again from the oldest kept`);
        },
        error: (err) => {
          this.lastError = err;
          this.inspector.note(`Error ${err.code}: ${err.message}`);
        },
        wire: (w) => this.inspector.push(w),
      },
    );
    this.session = session;
    await this.join(session, token, 0);
  }

  /**
   * The first connection. The SDK does not retry it; a server that is down or unreachable is
   * tried again with the SDK's backoff (messages written meanwhile wait in the session).
   */
  private async join(session: ChatSession, token: number, attempt: number): Promise<void> {
    const room = session.room;
    if (attempt === 0) this.inspector.note(`Joining #${room} over ${TRANSPORT_LABELS[storage.transport]}`);
    let client: Client;
    try {
      client = await session.start();
    } catch (err) {
      if (token !== this.openToken) return;
      if (isTransient(err)) {
        const delay = Math.max(300, backoffDelay(attempt, CLIENT_BACKOFF));
        this.onStatus({ status: navigator.onLine ? 'reconnecting' : 'offline', transport: storage.transport, retryInMs: delay });
        this.inspector.note(`Could not connect (${messageOf(err)}): trying again in ${(delay / 1000).toFixed(1)} s`);
        window.setTimeout(() => {
          if (token === this.openToken) void this.join(session, token, attempt + 1);
        }, delay);
        return;
      }
      if (isAccessError(err)) {
        this.list?.setHistory('idle');
        this.badge.update({ status: 'closed', transport: storage.transport });
        this.onAuthProblem(err);
        return;
      }
      const notFound = err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND';
      // No room, no history to load: the banner says what to do.
      this.list?.setHistory(notFound ? 'idle' : 'error');
      this.badge.update({ status: 'closed', transport: storage.transport });
      this.stalled = session;
      const again = async (): Promise<void> => {
        if (notFound) await createRoom(room);
        await this.rejoin();
      };
      this.showBanner(
        notFound ? `There is no room #${room} yet.` : `Could not join #${room}: ${messageOf(err)}`,
        () => void again().catch((e: unknown) => this.showBanner(`Could not create #${room}: ${messageOf(e)}`)),
        notFound ? `Create #${room}` : 'Try again',
      );
      return;
    }
    if (token !== this.openToken) return;
    this.presence.render(client.presence());
    this.members = client.presence();
    this.checkPresenceSoon(ChatView.PRESENCE_SETTLE_MS);
    this.onStatus({ status: client.status, transport: client.transport });
    await this.loadOlder();
  }

  /** Joins again the room whose first connection failed, in the same session: what was queued there is sent once it is in. */
  private async rejoin(): Promise<void> {
    const session = this.stalled;
    if (!session || session !== this.session) return;
    this.stalled = undefined;
    this.showBanner(undefined);
    this.list?.setHistory('loading');
    await this.join(session, this.openToken, 0);
  }

  /**
   * Leaves a room's session: publishes still in flight are given a few seconds to be acknowledged;
   * those that could not be sent (not connected) are reported, never dropped silently.
   */
  private async leave(session: ChatSession): Promise<void> {
    const unsent = await session.closeWhenSent(LEAVE_GRACE_MS);
    if (unsent > 0 && this.session !== session) {
      this.inspector.note(`${unsent} message${unsent === 1 ? '' : 's'} queued in #${session.room} could not be sent`);
      const text = `${unsent} message${unsent === 1 ? ' you wrote' : 's you wrote'} in #${session.room} could not be sent (it was not connected when you left).`;
      this.showBanner(text, () => this.showBanner(undefined), 'Dismiss', 'sticky');
    }
  }

  /** The display name changed: reconnect under it. */
  async rename(name: string): Promise<void> {
    this.options = { ...this.options, name };
    await this.session?.setName(name);
  }

  /**
   * The credentials changed (a token given, renewed, dev login under another name, guest). Another
   * member: the room is opened again as them. The same member: the connection resumes with the new
   * token (nothing lost), or reopens when it had been refused.
   */
  async credentialsChanged(identity: { name: string; member: string }): Promise<void> {
    const memberChanged = identity.member !== this.options.member;
    this.options = { ...this.options, name: identity.name, member: identity.member };
    this.presence.setMe(identity.member);
    this.typing.setMe(identity.member);
    const room = this.room;
    if (!room) return;
    const session = this.session;
    if (memberChanged || this.authFailed || !session || session.current?.status === 'closed') {
      this.session = undefined;
      this.room = '';
      await this.open(room);
      return;
    }
    try {
      await session.renewToken();
      if (session !== this.session) return;
      const client = session.current;
      if (client) this.onStatus({ status: client.status, transport: client.transport });
    } catch (err) {
      if (session !== this.session) return;
      if (isAccessError(err)) this.onAuthProblem(err);
      else this.showBanner(`Could not reconnect with the new token: ${messageOf(err)}`, () => this.reopen());
    }
  }

  private reopen(): void {
    this.session = undefined;
    const room = this.room;
    this.room = '';
    void this.open(room);
  }

  /**
   * The server refused this client's credentials: an expired dev-login token is renewed at once;
   * otherwise the banner says what happened and offers new credentials.
   */
  private onAuthProblem(err: SwitchboardError): void {
    this.authFailed = true;
    const room = this.room;
    if (err.code === 'TOKEN_EXPIRED' && auth.canDevLogin && auth.viaDevLogin) {
      this.showBanner('Your login has expired: logging in again…', undefined, undefined, 'info');
      auth.renew().catch((e: unknown) => {
        if (room === this.room) this.showBanner(`Your login has expired, and logging in again failed: ${messageOf(e)}`, () => this.options.reauth(err), 'Log in again');
      });
      return;
    }
    const detail = detailOf(err);
    let text: string;
    if (err.code === 'TOKEN_EXPIRED') text = 'Your token has expired.';
    else if (err.code === 'FORBIDDEN') text = `Your token does not let you into #${room}.`;
    else if (auth.isGuest) text = `Guests cannot join #${room}${auth.info.guestRooms.length ? ` (guests may join ${auth.info.guestRooms.map((r) => `#${r}`).join(', ')})` : ''}. Give a token to chat here.`;
    else if (auth.token) text = `The server did not accept your token${detail ? ` (${detail})` : ''}.`;
    else text = 'This server needs a token.';
    const label = auth.canDevLogin && !auth.isGuest ? 'Log in again' : auth.token ? 'Give another token' : 'Give a token';
    this.showBanner(text, () => this.options.reauth(err), label);
  }

  private async loadOlder(): Promise<void> {
    const session = this.session;
    const list = this.list;
    if (!session || !list || this.loadingOlder) return;
    this.loadingOlder = true;
    list.setHistory('loading');
    try {
      const page = await session.history(list.firstSeq);
      if (list !== this.list) return;
      this.epoch = page.epoch;
      list.addOlder(page.entries, page.more);
      this.markRead();
    } catch {
      if (list === this.list) list.setHistory('error');
    } finally {
      this.loadingOlder = false;
    }
  }

  /**
   * Who joined or left since the last presence notice, as one collapsed line each ("ann, bob and
   * 6 others joined"). Not when the server writes `join` / `leave` entries (--presence-entries):
   * the log shows them already.
   */
  private notePresence(members: PresenceMember[]): void {
    const before = this.members;
    this.members = members;
    if (!before || this.presenceEntries || !this.list) return;
    const { joined, left } = presenceChanges(before, members, this.options.member);
    for (const line of [collapsedLine(joined, 'joined'), collapsedLine(left, 'left')]) if (line) this.list.addNote(line);
  }

  private onEntry(entry: Entry): void {
    if (entry.type !== 'message') this.presenceEntries = true;
    if (!this.list?.add(entry)) return;
    if (entry.type === 'message') {
      this.typing.stopped(entry.from.member, entry.from.name);
      if (this.visible && document.visibilityState === 'visible') this.markRead();
      else if (entry.from.member !== this.options.member) {
        this.unseen++;
        this.updateTitle();
      }
    }
  }

  private onStatus(status: StatusEvent): void {
    this.status = status;
    this.badge.update(status);
    this.list?.setAllPending(status.status === 'connected' ? 'sending' : 'queued');
    this.badge.setQueued(this.list?.pendingCount ?? 0);
    this.presence.setConnected(status.status === 'connected');
    // A notice of messages that could not be sent stays until dismissed.
    if (status.status === 'connected' && !this.banner.classList.contains('sticky')) this.showBanner(undefined);
    // A lost connection is said where it cannot be missed, with a way to try at once.
    if ((status.status === 'reconnecting' || status.status === 'offline') && !this.banner.classList.contains('sticky')) {
      const waiting = this.list?.pendingCount ?? 0;
      const text = `${status.status === 'offline' ? 'You are offline.' : 'Connection lost: reconnecting…'}${waiting > 0 ? ` ${waiting} message${waiting === 1 ? '' : 's'} will be sent once it is back.` : ''}`;
      this.showBanner(text, () => this.session?.current?.retryNow(), 'Retry now', 'lost');
    }
    if (status.status === 'closed' && this.session) {
      const err = this.lastError;
      if (err && isAccessError(err)) this.onAuthProblem(err);
      else this.showBanner('The connection was closed by the server.', () => this.reopen());
    }
  }

  /** Typing notices only where this user may write (the server would refuse them, and end the subscription). */
  private onTyping(): void {
    if (auth.mayWrite(this.room)) this.session?.typing();
  }

  private send(text: string): void {
    const session = this.session;
    const list = this.list;
    if (!session || !list) return;
    const clientId = `c-${randomToken(16)}`;
    list.addPending(clientId, text, this.status?.status === 'connected' ? 'sending' : 'queued');
    this.badge.setQueued(list.pendingCount);
    this.publish(session, list, clientId, text);
  }

  private retry(clientId: string): void {
    const text = this.list?.pendingText(clientId);
    if (!this.session || !this.list || text === undefined) return;
    this.list.setPendingState(clientId, this.status?.status === 'connected' ? 'sending' : 'queued');
    this.publish(this.session, this.list, clientId, text);
  }

  private publish(session: ChatSession, list: MessageList, clientId: string, text: string): void {
    session.publish(text, clientId).then(
      (ack) => {
        list.confirm(clientId, ack, { id: '', name: this.options.name, member: this.options.member });
        this.badge.setQueued(list.pendingCount);
        if (this.visible) this.markRead();
      },
      (err: unknown) => {
        const denied = err instanceof SwitchboardError && (err.code === 'FORBIDDEN' || (err.code === 'UNAUTHORIZED' && auth.isGuest));
        list.setPendingState(clientId, 'failed', denied ? 'you may not write in this room' : messageOf(err));
        this.badge.setQueued(list.pendingCount);
        if (list !== this.list) return;
        if (denied) {
          // A readable notice, not only a failed bubble: the token (or guest access) is read-only here.
          if (auth.isGuest) this.showBanner('You may not write in this room: guests may only read here. Give a token to write.', () => this.options.reauth(undefined), 'Give a token');
          else this.showBanner(`You may not write in this room: your token does not give the right to write in #${this.room}.`);
        } else if (isAccessError(err) && isAuthError(err)) {
          this.onAuthProblem(err);
        }
      },
    );
  }

  private async changeTransport(transport: TransportName): Promise<void> {
    storage.transport = transport;
    this.inspector.note(`Switching to ${TRANSPORT_LABELS[transport]}`);
    try {
      await this.session?.setTransport(transport);
      // The SDK emits 'status' only when the status changes, not when a live switch changes the transport.
      const client = this.session?.current;
      if (client) this.onStatus({ status: client.status, transport: client.transport });
      this.checkPresenceSoon(ChatView.PRESENCE_SETTLE_MS);
    } catch (err) {
      // The SDK keeps the transport it had: so does the picker.
      const current = this.session?.current?.transport;
      if (current) {
        storage.transport = current;
        this.transportSelect.value = current;
      }
      this.showBanner(`Could not switch to ${TRANSPORT_LABELS[transport]}: ${messageOf(err)}`);
    }
  }

  /** Re-reads presence from the server (see roomPresence), then every PRESENCE_CHECK_MS. */
  private checkPresenceSoon(delayMs: number): void {
    window.clearTimeout(this.presenceTimer);
    this.presenceTimer = window.setTimeout(() => {
      const room = this.room;
      const session = this.session;
      if (this.visible && session?.current?.status === 'connected') {
        void roomPresence(room).then(
          (members) => {
            if (session === this.session) this.presence.render(members, this.status?.status === 'connected');
          },
          () => undefined,
        );
      }
      if (session === this.session) this.checkPresenceSoon(ChatView.PRESENCE_CHECK_MS);
    }, delayMs);
  }

  private changePollInterval(ms: number): void {
    storage.pollIntervalMs = ms;
    void this.session?.setPollInterval(ms).catch((err: unknown) => this.showBanner(`Could not apply the polling interval: ${messageOf(err)}`));
  }

  private markRead(): void {
    const seq = this.list?.lastSeq;
    if (!this.epoch || seq === undefined) return;
    this.unseen = 0;
    this.rooms.markRead(this.room, this.epoch, seq);
    this.updateTitle();
  }

  private onVisibility(): void {
    if (this.visible && document.visibilityState === 'visible') this.markRead();
  }

  private updateTitle(): void {
    if (!this.visible) return;
    document.title = `${this.unseen ? `(${this.unseen}) ` : ''}#${this.room} · Switchboard`;
  }

  private showBanner(text: string | undefined, action?: () => void, actionLabel = 'Try again', tone: 'problem' | 'info' | 'sticky' | 'lost' = 'problem'): void {
    this.banner.hidden = text === undefined;
    this.banner.classList.toggle('info', tone === 'info');
    this.banner.classList.toggle('lost', tone === 'lost' && text !== undefined);
    this.banner.classList.toggle('sticky', tone === 'sticky' && text !== undefined);
    replaceChildren(this.banner, h('span', 'banner-text', text ?? ''), action ? h('button', { class: 'small', attrs: { type: 'button' }, on: { click: action } }, actionLabel) : null);
  }

  private showSidebar(open: boolean): void {
    this.element.classList.toggle('sidebar-open', open);
    this.sidebarToggle.setAttribute('aria-expanded', String(open));
    if (open) this.element.querySelector<HTMLElement>('.room.current')?.focus();
  }

  private showWire(open: boolean): void {
    this.element.classList.toggle('wire-open', open);
    this.wireToggle.setAttribute('aria-expanded', String(open));
    if (!open && this.element.contains(document.activeElement) && this.inspector.element.contains(document.activeElement)) this.wireToggle.focus();
  }

  private onKeyDown(e: KeyboardEvent): void {
    if (e.key !== 'Escape') return;
    if (this.element.classList.contains('sidebar-open')) {
      this.showSidebar(false);
      this.sidebarToggle.focus();
    } else if (!matchMedia(WIDE).matches && this.element.classList.contains('wire-open')) {
      this.showWire(false);
    }
  }
}

const CLIENT_BACKOFF = { initialDelayMs: 500, maxDelayMs: 15_000 };

/** A failure worth trying again: no answer, or the server said "later" (5xx, 408, 429). */
function isTransient(err: unknown): boolean {
  if (err instanceof ConnectionError) return err.code !== 'INVALID_URL' && err.code !== 'CLOSED';
  if (err instanceof SwitchboardError) return err.status >= 500 || err.status === 408 || err.status === 429;
  return false;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
