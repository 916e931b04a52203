import { backoffDelay, ConnectionError, SwitchboardError } from 'switchboard-client';
import type { Ack, AmendmentEntry, Client, Entry, MessageEntry, PresenceMember, ReadReceipt, StatusEvent, TransportName } from 'switchboard-client';
import { detailOf, isAccessError, isAuthError } from './api.js';
import { auth } from './auth.js';
import { ChatSession } from './chat-session.js';
import { Composer, type ReplyTarget } from './composer.js';
import { h, icon, replaceChildren } from './dom.js';
import { TRANSPORT_LABELS } from './format.js';
import { MentionNotifier } from './mention-notifier.js';
import type { MentionCandidate } from './mention-picker.js';
import { MessageList } from './message-list.js';
import { collapsedLine, presenceChanges } from './presence-changes.js';
import { PresenceList } from './presence-list.js';
import { RoomList } from './room-list.js';
import { routeHref } from './router.js';
import { SearchPanel } from './search-panel.js';
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
/** Below this the sidebar lies over the conversation (styles.css). */
const PHONE = '(max-width: 767.98px)';
/** Senders of a room remembered for the mention suggestions. */
const SENDERS_KEPT = 200;
/** How long leaving a room waits for its messages in flight to be acknowledged. */
const LEAVE_GRACE_MS = 5000;
/** Read positions are asked for this often while the room is shown over a polling transport (no receipt notices there). */
const READ_STATE_POLL_MS = 3000;
/** Pages of older history loaded at most to find a message (a quote or a search result). */
const FIND_PAGES = 20;

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
  private readonly search: SearchPanel;
  private readonly title: HTMLElement;
  private readonly body: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly transportSelect: HTMLSelectElement;
  private readonly intervalSelect: HTMLSelectElement;
  /** The "Polling interval" field: shown only while short polling, the one transport it paces, is picked or in use. */
  private readonly intervalField: HTMLElement;
  private readonly sidebarToggle: HTMLButtonElement;
  private readonly wireToggle: HTMLButtonElement;
  private readonly notifier: MentionNotifier;
  /** The bell that turns desktop notifications of mentions on and off (the app header holds it: a setting of the user, not of a room). */
  readonly notifyButton: HTMLButtonElement;
  private readonly sidebar: HTMLElement;
  private readonly scrim: HTMLElement;
  /** What was made inert while the sidebar or the wire inspector lies over the page. */
  private inerted: HTMLElement[] = [];
  private list: MessageList | undefined;
  private session: ChatSession | undefined;
  /** The token renewal in progress after a rename under the same member (see credentialsChanged). */
  private renewal: Promise<void> | undefined;
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
  /** Who wrote the messages received live in this room, latest last (at most SENDERS_KEPT): people to mention beside those here. */
  private senders = new Map<string, string>();
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
  /** The newest seq of any entry received (amendments included) in this room. */
  private lastReceived = 0;
  /** The read position last sent (markRead is not asked again for it). */
  private markedSeq = 0;
  private readStateTimer: number | undefined;
  /** A search for a message not loaded yet is running. */
  private finding = false;
  /** The message a link named (`#/room/<name>/<seq>`), shown once the room's first page is in. */
  private linkedSeq: number | undefined;
  /** The room shown is joined and its first page of history is in (join). */
  private joined = false;
  /** The reader's read position as the room opened is known (or cannot be): markRead may move it. */
  private positionKnown = false;

  constructor(private options: ChatViewOptions) {
    this.notifier = new MentionNotifier({ open: (room, seq) => this.openNotified(room, seq), say: (text) => this.showBanner(text, () => this.showBanner(undefined), 'Dismiss', 'info') });
    this.notifyButton = this.notifier.button;
    this.rooms = new RoomList({
      current: () => this.room,
      onOpen: (room) => {
        this.showSidebar(false);
        options.navigate(room);
      },
      countWhileHidden: () => this.notifier.on,
      onMentioned: (room, added) => this.notifier.mentioned(room, added),
    });
    this.presence = new PresenceList(options.member, (count) => this.rooms.setHere(this.room, count));
    this.typing = new TypingIndicator(options.member);
    this.inspector = new WireInspector({ onClose: () => this.showWire(false) });
    this.composer = new Composer({
      id: 'message-input',
      placeholder: 'Message',
      onSend: (text, replyTo) => this.send(text, replyTo),
      onTyping: () => this.onTyping(),
      maxBytes: () => auth.info.maxMessageBytes,
      mentionCandidates: () => this.mentionCandidates(),
    });
    this.search = new SearchPanel({
      search: (q, before) => {
        if (!this.session) return Promise.reject(new Error('not connected'));
        return this.session.search(q, before);
      },
      onPick: (seq) => this.list?.showMessage(seq),
    });
    this.title = h('h1', { class: 'room-title', attrs: { id: 'room-title' } });
    this.body = h('div', 'conversation');
    this.banner = h('div', { class: 'banner', attrs: { role: 'alert', hidden: true } });

    const transport = transportField(storage.transport, (t) => void this.changeTransport(t));
    this.transportSelect = transport.select;
    const interval = pollIntervalField(storage.pollIntervalMs, (ms) => this.changePollInterval(ms));
    this.intervalSelect = interval.select;
    this.intervalField = interval.element;
    this.showIntervalFor(storage.transport);

    this.sidebarToggle = h('button', { class: 'icon-only sidebar-toggle', attrs: { type: 'button', 'aria-label': 'Rooms and people', 'aria-expanded': 'false', 'aria-controls': 'chat-sidebar' }, on: { click: () => this.showSidebar(!this.element.classList.contains('sidebar-open')) } }, icon('menu'));
    const wideNow = matchMedia(WIDE).matches;
    this.wireToggle = h('button', { class: 'small wire-toggle', attrs: { type: 'button', 'aria-label': 'Wire inspector', title: 'Show or hide the wire inspector', 'aria-expanded': String(wideNow), 'aria-controls': 'wire-panel' }, on: { click: () => this.showWire(!this.element.classList.contains('wire-open')) } }, icon('wire'), h('span', null, 'Wire'));
    this.inspector.element.id = 'wire-panel';

    const sidebar = (this.sidebar = h('aside', { class: 'sidebar', attrs: { id: 'chat-sidebar', 'aria-label': 'Rooms and people' } }, this.rooms.element, this.presence.element));
    const main = h(
      'main',
      { class: 'chat-main', attrs: { 'aria-labelledby': 'room-title' } },
      h('header', 'chat-header', this.sidebarToggle, this.title, this.badge.element, this.search.field, this.wireToggle),
      h('div', 'chat-toolbar', transport.element, interval.element),
      this.banner,
      h('div', 'conversation-area', this.body, this.search.panel),
      this.typing.element,
      this.composer.element,
    );
    const scrim = (this.scrim = h('div', { class: 'scrim', attrs: { 'aria-hidden': 'true' }, on: { click: () => { this.showSidebar(false); if (!matchMedia(WIDE).matches) this.showWire(false); } } }));
    this.element = h('div', { class: `chat-layout${wideNow ? ' wire-open' : ''}`, on: { keydown: (e) => this.onKeyDown(e) } }, sidebar, main, this.inspector.element, scrim);

    document.addEventListener('visibilitychange', () => this.onVisibility());
    window.addEventListener('online', () => this.badge.update(this.status));
    window.addEventListener('offline', () => this.badge.update(this.status));
    // A panel that lies over the page on a narrow window is a column of a wide one, and back.
    for (const query of [WIDE, PHONE]) matchMedia(query).addEventListener('change', () => this.updateModal());
    this.rooms.start();
  }

  /** Shown (true) or hidden (false) by the router. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.updateModal();
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
    this.senders.clear();
    this.joined = false;
    this.positionKnown = false;
    this.linkedSeq = undefined;
    this.presenceEntries = false;
    this.lastReceived = 0;
    this.markedSeq = 0;
    this.composer.setReply(undefined);
    this.search.reset();
    this.showBanner(undefined);
    replaceChildren(this.title, h('span', { class: 'hash', attrs: { 'aria-hidden': 'true' } }, '#'), room);
    this.composer.setPlaceholder(auth.mayWrite(room) ? `Message #${room}` : `Message #${room} (you may only read here)`);
    this.rooms.renderList();
    this.updateTitle();

    const list = new MessageList({
      me: this.options.member,
      room,
      onLoadOlder: () => void this.loadOlder(),
      onRetry: (id) => this.retry(id),
      onTakeBack: (text, replyTo, edit) => {
        this.badge.setQueued(list.pendingCount);
        if (edit) this.composer.restore(text, replyTo);
        else this.composer.focus();
      },
      mentionNames: () => [this.options.name, this.options.member],
      mayAmend: (m) => m.from.member === this.options.member || auth.mayAdmin(room),
      mayWrite: () => auth.mayWrite(room),
      onReply: (m) => this.composer.setReply({ seq: m.seq, from: m.from, text: m.text }),
      onEdit: (seq, text) => this.amend(this.session?.edit(seq, text), (ack) => ({ type: 'edit', target: seq, text, ...this.stamp(ack) })),
      onDelete: (seq) => this.amend(this.session?.delete(seq), (ack) => ({ type: 'delete', target: seq, ...this.stamp(ack) })),
      onReact: (seq, emoji, on) => {
        this.amend(this.session?.react(seq, emoji, on), (ack) => ({ type: 'reaction', target: seq, emoji, on, ...this.stamp(ack) })).catch((err: unknown) => this.showBanner(`Could not react: ${messageOf(err)}`, () => this.showBanner(undefined), 'Dismiss'));
      },
      onFind: (seq) => void this.find(seq),
      onSeenNewest: () => this.markRead(),
    });
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
        receipt: (r) => this.onReceipt(r),
        status: (s) => this.onStatus(s),
        reset: (r) => {
          this.list?.clear();
          // A new history: positions of the old one mean nothing.
          this.lastReceived = 0;
          this.markedSeq = 0;
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
    if (token !== this.openToken) return;
    this.joined = true;
    // Where the reader left off, asked before this page marks anything read.
    this.pollReadState(session, (position) => {
      if (position !== undefined && position > 0) this.list?.markFirstUnread(position);
      this.positionKnown = true;
      this.markRead();
    });
    if (this.linkedSeq !== undefined) this.showLinked(this.linkedSeq);
  }

  /**
   * A link to message `seq` of the room shown was opened: the message, loading older history if
   * needed (once the room is joined). The address then names the room alone, so that the same
   * link opened again is a change of address, and shows the message again.
   */
  showLinked(seq: number): void {
    history.replaceState(null, '', routeHref({ view: 'chat', room: this.room }));
    if (!this.joined) {
      this.linkedSeq = seq;
      return;
    }
    this.linkedSeq = undefined;
    void this.find(seq);
  }

  /**
   * Read positions of the room (who has seen what) at join; then, over the polling transports
   * (which get no receipt notices), again every READ_STATE_POLL_MS while the room is shown.
   */
  private pollReadState(session: ChatSession, first?: (position: number | undefined) => void): void {
    window.clearTimeout(this.readStateTimer);
    if (session !== this.session) return;
    const polling = session.current?.transport === 'polling' || session.current?.transport === 'long-polling';
    if (this.visible && document.visibilityState === 'visible') {
      void session.readState().then(
        (state) => {
          if (session !== this.session) return;
          this.list?.setReaders(state.members);
          first?.(state.seq);
        },
        () => {
          if (session === this.session) first?.(undefined);
        },
      );
    } else {
      first?.(undefined);
    }
    if (polling) this.readStateTimer = window.setTimeout(() => this.pollReadState(session), READ_STATE_POLL_MS);
  }

  private onReceipt(receipt: ReadReceipt): void {
    if (receipt.room === this.room) this.list?.setReaders([receipt]);
  }

  /** The part of an amendment made from its ack (see amend). */
  private stamp(ack: Ack): { room: string; seq: number; ts: number; from: Entry['from'] } {
    return { room: ack.room, seq: ack.seq, ts: ack.ts, from: { id: '', name: this.options.name, member: this.options.member } };
  }

  /**
   * Waits for an amendment's ack; then, when every entry before it was received here already,
   * folds it in at once (its own entry, coming later, is skipped as already folded). Otherwise the
   * entry itself shows it when it comes: folding it early would skip earlier amendments.
   */
  private async amend(request: Promise<Ack> | undefined, made: (ack: Ack) => Omit<AmendmentEntry, 'clientId'>): Promise<void> {
    if (!request) throw new Error('not connected');
    const list = this.list;
    const ack = await request;
    if (list !== this.list || !list || ack.duplicate) return;
    if (this.lastReceived === ack.seq - 1) {
      this.lastReceived = ack.seq;
      list.add(made(ack) as AmendmentEntry);
    }
  }

  /** Loads older history until message `seq` is there (at most FIND_PAGES pages), then shows it. */
  private async find(seq: number): Promise<void> {
    const list = this.list;
    if (!list || this.finding) return;
    this.finding = true;
    try {
      for (let page = 0; page < FIND_PAGES && !list.has(seq); page++) {
        // A page asked for by scrolling may be on its way: wait for it rather than give up.
        for (let wait = 0; this.loadingOlder && wait < 100; wait++) await new Promise((r) => setTimeout(r, 50));
        if (list.has(seq)) break;
        const first = list.firstSeq;
        if (first !== undefined && first <= seq) break;
        if (!(await this.loadOlder())) break;
        if (list !== this.list) return;
      }
      if (list.has(seq)) list.showMessage(seq);
      else this.showBanner('That message is not in the history any more (deleted, or too old).', () => this.showBanner(undefined), 'Dismiss', 'info');
    } finally {
      this.finding = false;
    }
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
    // Messages sent meanwhile wait for the new token, so they go out under the new name.
    const renewal = session.renewToken();
    const settled = renewal.then(
      () => undefined,
      () => undefined,
    );
    this.renewal = settled;
    void settled.then(() => {
      if (this.renewal === settled) this.renewal = undefined;
    });
    try {
      await renewal;
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

  /** Loads one page of older history; true when there may be more. */
  private async loadOlder(): Promise<boolean> {
    const session = this.session;
    const list = this.list;
    if (!session || !list || this.loadingOlder) return false;
    this.loadingOlder = true;
    list.setHistory('loading');
    try {
      const page = await session.history(list.firstSeq);
      if (list !== this.list) return false;
      this.epoch = page.epoch;
      list.addOlder(page.entries, page.more);
      this.markRead();
      return page.more;
    } catch {
      if (list === this.list) list.setHistory('error');
      return false;
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
    if (entry.type === 'join' || entry.type === 'leave') this.presenceEntries = true;
    this.lastReceived = Math.max(this.lastReceived, entry.seq);
    if (!this.list?.add(entry)) return;
    if (entry.type === 'message') {
      this.typing.stopped(entry.from.member, entry.from.name);
      const sender = entry.from.member;
      if (sender !== undefined) {
        this.senders.delete(sender);
        this.senders.set(sender, entry.from.name);
        if (this.senders.size > SENDERS_KEPT) this.senders.delete(this.senders.keys().next().value ?? '');
      }
      if (entry.from.member !== this.options.member) {
        this.unseen++;
        this.notifier.message(this.room, entry, this.options.name, this.options.member);
      }
      // Read when it is on screen in a visible tab (markRead checks); the count above is cleared then.
      this.markRead();
      // The title says the count only if it stayed: a reader following the room would otherwise
      // have it written twice per message ("(1) #room", then "#room"), each write an update of
      // the tab in the browser (some 5 ms of the browser process's CPU and 2.5 of the GPU
      // process's per message of a busy room, measured with npm run bench:web-feed).
      this.updateTitle();
    }
  }

  /** The people the message box suggests as `@` is typed: those here now, and who wrote lately; not oneself. */
  private mentionCandidates(): MentionCandidate[] {
    const here = (this.members ?? []).map((m) => ({ name: m.name, member: m.member }));
    const wrote = [...this.senders].reverse().map(([member, name]) => ({ name, member }));
    return [...here, ...wrote].filter((c) => c.member !== this.options.member);
  }

  /** A notification was clicked: its message in the room shown, or its room. */
  private openNotified(room: string, seq: number | undefined): void {
    this.showSidebar(false);
    if (room !== this.room) this.options.navigate(room);
    else if (seq !== undefined) void this.find(seq);
  }

  private onStatus(status: StatusEvent): void {
    const was = this.status?.status;
    this.status = status;
    this.badge.update(status);
    this.showIntervalFor(status.transport);
    this.list?.setAllPending(status.status === 'connected' ? 'sending' : 'queued');
    this.badge.setQueued(this.list?.pendingCount ?? 0);
    this.presence.setConnected(status.status === 'connected');
    // (Re)connected: receipts sent meanwhile were missed; ask for the read positions once.
    if (status.status === 'connected' && was !== undefined && was !== 'connected' && this.session?.current && this.list) this.pollReadState(this.session);
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
      // The SDK reports the server's reason (its error event) before the status turns closed.
      if (err?.code === 'MEMBER_DISCONNECTED') this.showBanner(`An administrator disconnected you from #${this.room}.`, () => this.reopen(), 'Join again');
      else if (err && isAccessError(err)) this.onAuthProblem(err);
      else this.showBanner('The connection was closed by the server.', () => this.reopen());
    }
  }

  /** Typing notices only where this user may write (the server would refuse them, and end the subscription). */
  private onTyping(): void {
    if (auth.mayWrite(this.room)) this.session?.typing();
  }

  private send(text: string, replyTo?: ReplyTarget): void {
    const session = this.session;
    const list = this.list;
    if (!session || !list) return;
    const clientId = `c-${randomToken(16)}`;
    list.addPending(clientId, text, this.status?.status === 'connected' ? 'sending' : 'queued', replyTo);
    this.badge.setQueued(list.pendingCount);
    this.publish(session, list, clientId, text, replyTo);
  }

  private retry(clientId: string): void {
    const text = this.list?.pendingText(clientId);
    if (!this.session || !this.list || text === undefined) return;
    this.list.setPendingState(clientId, this.status?.status === 'connected' ? 'sending' : 'queued');
    this.publish(this.session, this.list, clientId, text, this.list.pendingReply(clientId));
  }

  private publish(session: ChatSession, list: MessageList, clientId: string, text: string, replyTo?: ReplyTarget): void {
    const go = (): ReturnType<ChatSession['publish']> => session.publish(text, clientId, replyTo?.seq);
    (this.renewal ? this.renewal.then(go) : go()).then(
      (ack) => {
        // As the server will record it (the entry says so when it comes): a WebSocket publishes over itself, the other transports over HTTP.
        const via = this.status?.transport === undefined ? undefined : this.status.transport === 'websocket' ? 'websocket' : 'http';
        list.confirm(clientId, ack, { id: '', name: this.options.name, member: this.options.member, ...(via ? { transport: via } : {}) });
        this.badge.setQueued(list.pendingCount);
        if (this.visible) this.markRead();
      },
      (err: unknown) => {
        const denied = err instanceof SwitchboardError && (err.code === 'FORBIDDEN' || (err.code === 'UNAUTHORIZED' && auth.isGuest));
        list.setPendingState(clientId, 'failed', denied ? 'you may not write in this room' : messageOf(err), !(err instanceof SwitchboardError && REFUSED_AGAIN.has(err.code)));
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
    this.showIntervalFor(transport);
    this.inspector.note(`Switching to ${TRANSPORT_LABELS[transport]}`);
    try {
      await this.session?.setTransport(transport);
      // The SDK emits 'status' only when the status changes, not when a live switch changes the transport.
      const client = this.session?.current;
      if (client) this.onStatus({ status: client.status, transport: client.transport });
      this.checkPresenceSoon(ChatView.PRESENCE_SETTLE_MS);
      // Polling transports get no receipt notices: read positions are asked for instead.
      if (this.session) this.pollReadState(this.session);
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
          (page) => {
            if (session === this.session) this.presence.render(page.members, this.status?.status === 'connected', page.truncated ? page.count : undefined);
          },
          () => undefined,
        );
      }
      if (session === this.session) this.checkPresenceSoon(ChatView.PRESENCE_CHECK_MS);
    }, delayMs);
  }

  /** Shows the polling interval when `transport` (picked or in use: a fallback may end on short polling) is short polling. */
  private showIntervalFor(transport: TransportName | undefined): void {
    this.intervalField.hidden = transport !== 'polling' && storage.transport !== 'polling';
  }

  private changePollInterval(ms: number): void {
    storage.pollIntervalMs = ms;
    void this.session?.setPollInterval(ms).catch((err: unknown) => this.showBanner(`Could not apply the polling interval: ${messageOf(err)}`));
  }

  /**
   * The newest message is on screen in a visible tab: the room is read up to the newest entry
   * received (the server's read position: other tabs and devices, and the room list, follow).
   */
  private markRead(): void {
    const list = this.list;
    const session = this.session;
    if (!list || !session || !this.epoch || !this.positionKnown || !this.visible || document.visibilityState !== 'visible' || !list.isNearBottom()) return;
    this.unseen = 0;
    this.updateTitle();
    const seq = Math.max(this.lastReceived, list.lastSeq ?? 0);
    if (seq <= this.markedSeq || session.current?.status !== 'connected') return;
    this.markedSeq = seq;
    const room = this.room;
    this.rooms.markRead(room);
    // A keyed server's guest keeps no read position (the server refuses it: it names guests per connection).
    if (auth.isGuest) return;
    session.markRead(seq).catch(() => {
      // Not stored (connection lost, refused): try again at the next chance.
      if (session === this.session && this.markedSeq === seq) this.markedSeq = 0;
    });
  }

  private onVisibility(): void {
    if (this.visible && document.visibilityState === 'visible') {
      this.markRead();
      // Receipts may have been missed while hidden (and polling transports ask again from here on).
      if (this.session?.current) this.pollReadState(this.session);
    }
  }

  private updateTitle(): void {
    if (!this.visible) return;
    const title = `${this.unseen ? `(${this.unseen}) ` : ''}#${this.room} · Switchboard`;
    // Written only when it changes: a write costs the page even when the text is the same.
    if (document.title !== title) document.title = title;
  }

  private showBanner(text: string | undefined, action?: () => void, actionLabel = 'Try again', tone: 'problem' | 'info' | 'sticky' | 'lost' = 'problem'): void {
    this.banner.hidden = text === undefined;
    this.banner.classList.toggle('info', tone === 'info');
    this.banner.classList.toggle('lost', tone === 'lost' && text !== undefined);
    this.banner.classList.toggle('sticky', tone === 'sticky' && text !== undefined);
    replaceChildren(this.banner, h('span', 'banner-text', text ?? ''), action ? h('button', { class: 'small', attrs: { type: 'button' }, on: { click: action } }, actionLabel) : null);
  }

  private showSidebar(open: boolean): void {
    const lost = this.focusLostIn(this.sidebar);
    this.element.classList.toggle('sidebar-open', open);
    this.sidebarToggle.setAttribute('aria-expanded', String(open));
    this.updateModal();
    if (open) this.element.querySelector<HTMLElement>('.room.current')?.focus();
    else if (lost && matchMedia(PHONE).matches) this.sidebarToggle.focus();
  }

  private showWire(open: boolean): void {
    const lost = this.focusLostIn(this.inspector.element);
    this.element.classList.toggle('wire-open', open);
    this.wireToggle.setAttribute('aria-expanded', String(open));
    this.updateModal();
    // Below WIDE the panel lies over the conversation and its own toggle: focus goes in, as the sidebar's does.
    if (open && !matchMedia(WIDE).matches) this.inspector.element.querySelector<HTMLElement>('.close-panel')?.focus();
    if (!open && lost) this.wireToggle.focus();
  }

  /** The focus is in `panel`, or nowhere (a click on the scrim): closing `panel` gives it back to its toggle. */
  private focusLostIn(panel: HTMLElement): boolean {
    const active = document.activeElement;
    return active === null || active === document.body || panel.contains(active);
  }

  /**
   * The sidebar on a phone and the wire inspector below WIDE lie over the page, as a modal
   * dialog: everything else is made inert (Tab went on to the page behind, hidden under the
   * scrim), except the scrim, whose click closes them. Undone when they close, when the window
   * grows past the width where they are columns, and when another view is shown.
   */
  private updateModal(): void {
    for (const el of this.inerted.splice(0)) el.inert = false;
    const open = (name: string): boolean => this.element.classList.contains(name);
    const overlay = !this.visible ? undefined : open('sidebar-open') && matchMedia(PHONE).matches ? this.sidebar : open('wire-open') && !matchMedia(WIDE).matches ? this.inspector.element : undefined;
    if (!overlay?.isConnected) return;
    // The overlay's siblings, and its ancestors' siblings, up to the body.
    for (let node: Element = overlay; node.parentElement && node !== document.body; node = node.parentElement) {
      for (const other of node.parentElement.children) {
        if (other === node || other === this.scrim || !(other instanceof HTMLElement) || other.inert || other instanceof HTMLDialogElement) continue;
        other.inert = true;
        this.inerted.push(other);
      }
    }
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

/** Refusals of a publish that the same message would get again: no Retry, only Edit or Discard. */
const REFUSED_AGAIN: ReadonlySet<string> = new Set(['MESSAGE_TOO_LARGE', 'TEXT_REQUIRED', 'INVALID_UTF8', 'BAD_REQUEST', 'CLIENT_ID_CONFLICT']);

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
