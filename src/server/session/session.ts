import { formatCursor } from '../../protocol/cursor.js';
import { ROOM_NAME_PATTERN } from '../../protocol/constants.js';
import { SwitchboardError } from '../../protocol/errors.js';
import { mentionTest } from '../../protocol/message-code.js';
import { dataProblem, EVENT_NAME_PATTERN, MAX_DATA_DEPTH } from '../../protocol/payload.js';
import type { Ack, HistoryPage, JsonValue, MessageDraft, PollResult, PresenceMember, PresencePage, ReadState, RoomInfo, SearchResult, Sender, SubscriptionStart, TransportName, TypingNotice, UnreadCount } from '../../protocol/types.js';
import { searchWords } from '../store/fold.js';
import type { Principal, Right } from '../auth/principal.js';
import type { Batch } from '../batch.js';
import type { Codec } from '../codecs.js';
import { Notice } from '../notice.js';
import { randomId } from '../ids.js';
import { recordId } from '../presence/presence-store.js';
import type { Closable } from '../connection-registry.js';
import type { ServerContext } from '../context.js';
import { KICK_MEMORY_MS, PRESENCE_NOTICE_MAX_MEMBERS, type PollReply, type SeenNotices } from '../hub.js';
import type { RoomPageRequest, RoomState, SearchAnswer } from '../store/message-store.js';
import type { Subscriber } from '../subscriber.js';
import { READ_UNIT_BYTES, type Budget } from './limits.js';
import type { VerifiedClaims } from './presence-ticket.js';
import type { Sink } from './sink.js';

/** text, data and event of a message, checked. */
type MessagePayloadDraft = Pick<MessageDraft, 'text' | 'data' | 'event'>;

/** How the transport of a session is named in entries (`from.transport`) and metrics. */
export type SessionTransport = TransportName | 'http' | 'seed';

/** What the client sends to publish (unchecked: the session validates it). */
export interface PublishInput {
  /** Chat text; may be absent or empty when `data` is given. */
  text?: string | undefined;
  /** Application data: any JSON value (a top-level `null` counts as none). */
  data?: unknown;
  /** Application event name, 1-64 of `A-Z a-z 0-9 _ . : -`. */
  event?: string | undefined;
  clientId?: string | undefined;
  /** The seq of the message this one answers: the store quotes it (MESSAGE_NOT_FOUND, MESSAGE_DELETED). */
  replyTo?: number | undefined;
  /** On behalf of whom: honoured for the system principal (the server API) only. */
  onBehalfOf?: { member?: string | undefined; name?: string | undefined } | undefined;
}

/**
 * When a room's history is reset under a subscription: `notify` drops it with a HISTORY_RESET
 * error (the client subscribes again: native WebSocket), `end` ends the session with it (SSE:
 * the client reconnects with its Last-Event-ID), `follow` subscribes again at the new end (the
 * lecture's clients, which have no position).
 */
export type ResetMode = 'notify' | 'end' | 'follow';

export interface SessionOptions {
  id: string;
  principal: Principal;
  transport: SessionTransport;
  /** Where a long-lived session writes and its wire format; none for one HTTP request. */
  sink?: { sink: Sink; codec: Codec; onReset: ResetMode };
  /** Count subscriptions in presence (long-lived sessions do; a request does not). */
  presence?: boolean;
}

/** The subscriptions of a session that has none: most sessions are one request and never subscribe. Never written. */
const NO_SUBSCRIPTIONS: Map<string, Subscription> = new Map();

/**
 * One client, whatever the transport: its identity (principal), its subscriptions (replay then
 * live), its presence, its budgets and its close. Every command of every transport goes through
 * one pipeline, `run`: the principal was authenticated when the session was made, then
 * authorize (policy) → validate → limit (budgets) → execute (hub) → record (metrics by
 * transport). Transports only parse their handshake and frames and give the session a sink.
 *
 * `close` is idempotent and safe at any `await` of a command: a command resumed after it finds
 * the session closed and undoes what it had set up (subscriber, presence), so nothing is left
 * behind (no slot, no subscriber, no member).
 */
export class Session implements Closable {
  readonly id: string;
  readonly transport: SessionTransport;
  principal: Principal;
  /** Links of the ConnectionRegistry's list of open connections (see Closable). */
  listPrev: Closable | undefined = undefined;
  listNext: Closable | undefined = undefined;
  listOwner: object | undefined = undefined;
  /** Its subscriptions by room: NO_SUBSCRIPTIONS (shared, never written) until the first. */
  private subs = NO_SUBSCRIPTIONS;
  private readonly output: SessionOptions['sink'];
  private readonly countsInPresence: boolean;
  /**
   * This connection's presence record (recordId): its connection id and an attachment of its
   * own, as a client may open two transports with one connection id (PresenceStore).
   */
  private presenceId: string | undefined;
  /**
   * Told once when the session closes (held long polls): none, one (a request's session holds one
   * poll at a time), or a Set of several. No AbortController: one per request cost more than the poll.
   */
  private closeWatchers: (() => void) | Set<() => void> | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stalledSince: number | undefined;
  private closedWith: SwitchboardError | null | undefined;
  /** The room of the long poll this session holds (a session of one request): a disconnect order for the room ends it. */
  private pollingIn: string | undefined;
  /**
   * The member the presence ticket of that long poll names: a disconnect order for that member
   * ends it. A guest's polls claim no member of their own (its principal is made per request):
   * the ticket says who joined, and the order names that member.
   */
  private pollingAs: string | undefined;
  /** The last presence ticket this session checked (for this principal and room), with what it says. */
  private checkedTicket: CheckedTicket | undefined;

  constructor(
    private readonly ctx: ServerContext,
    options: SessionOptions,
  ) {
    this.id = options.id;
    this.principal = options.principal;
    this.transport = options.transport;
    this.output = options.sink;
    this.countsInPresence = options.presence ?? options.sink !== undefined;
    this.scheduleExpiry();
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls `wake` once when the session closes (at once when it is closed already), unless `offClose(wake)` comes first. */
  onClose(wake: () => void): void {
    if (this.closed) {
      wake();
      return;
    }
    const watchers = this.closeWatchers;
    if (watchers === undefined) this.closeWatchers = wake;
    else if (typeof watchers === 'function') this.closeWatchers = new Set([watchers, wake]);
    else watchers.add(wake);
  }

  /** Forgets a `wake` given to onClose. */
  offClose(wake: () => void): void {
    const watchers = this.closeWatchers;
    if (watchers === wake) this.closeWatchers = undefined;
    else if (typeof watchers === 'object') watchers.delete(wake);
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  /** The sender of what this session writes to a log. */
  get sender(): Sender {
    return { id: this.id, name: this.principal.name, member: this.principal.member, transport: this.transport };
  }

  // --- commands ---------------------------------------------------------------------------

  /**
   * Subscribes to `room` after the cursor `after` (none: from now on; `fromStart`: from the
   * oldest retained entry; `resetToEnd`: a cursor that cannot be honoured starts at the end). `announce` is called with where delivery starts before any entry is
   * delivered. Throws like every command (see run), TOO_MANY_SUBSCRIPTIONS past the cap, and
   * INVALID_CURSOR naming `afterFrom` (where the client put `after`; default `after`).
   */
  subscribe(room: string, opts: { after?: string | undefined; afterFrom?: string; create?: boolean; fromStart?: boolean; resetToEnd?: boolean }, announce?: (info: SubscriptionStart) => void): Promise<SubscriptionStart> {
    return this.run('subscribe', room, 'read', 'subscribe', async () => {
      const { hub, config } = this.ctx;
      if (!this.output) throw new SwitchboardError('BAD_REQUEST', 'this transport cannot subscribe');
      this.refuseReadDebt();
      if (!this.subs.has(room) && this.subs.size >= config.maxSubscriptionsPerConnection) {
        throw new SwitchboardError('TOO_MANY_SUBSCRIPTIONS', `at most ${config.maxSubscriptionsPerConnection}`);
      }
      const hook = this.ctx.hooks.onSubscribe;
      if (hook) {
        const allowed = await hook({ principal: this.principal, room, transport: this.transport });
        this.ensureOpen();
        if (allowed === false) throw new SwitchboardError('FORBIDDEN', 'refused by the application');
      }
      const state = await this.roomState(room, opts.create === true);
      this.ensureOpen();
      let start = hub.resolveStart(state, opts.after, opts.fromStart, opts.afterFrom);
      if (start.reset && opts.resetToEnd) start = hub.resolveStart(state, undefined);
      // One more than a snapshot shows: enough to know whether it is all.
      const mark = hub.presenceMark(room);
      const members = await hub.presence.snapshot(room, PRESENCE_NOTICE_MAX_MEMBERS + 1);
      this.ensureOpen();
      this.dropSubscription(room, false);
      const sub = new Subscription(this, room, start.epoch);
      if (this.subs === NO_SUBSCRIPTIONS) this.subs = new Map();
      this.subs.set(room, sub);
      // The client is counted from now on: its own snapshot says so (the notice of its arrival may go out before it is live).
      const everyone = this.countsInPresence ? withMember(members, this.principal.member, this.principal.name, this.presenceTransport) : members;
      // The whole list to every arrival is n² bytes in a big room: part of it, said so.
      const truncated = everyone.length > PRESENCE_NOTICE_MAX_MEMBERS;
      const presence = truncated ? everyone.slice(0, PRESENCE_NOTICE_MAX_MEMBERS) : everyone;
      const info: SubscriptionStart = { room, epoch: start.epoch, cursor: formatCursor(start), ...(start.reset ? { reset: start.reset } : {}), presence, ...(truncated ? { presenceTruncated: true as const } : {}) };
      announce?.(info);
      if (this.countsInPresence) hub.presence.attach(room, { id: this.presenceRecord, member: this.principal.member, name: this.principal.name, transport: this.presenceTransport });
      sub.replayed = 0;
      try {
        await hub.subscribe(room, sub, start);
      } catch (err) {
        this.dropSubscription(room, true, sub);
        throw err;
      } finally {
        // What the replay sent pays as a history page would (chargeRead).
        this.chargeRead(sub.replayed ?? 0);
        sub.replayed = undefined;
      }
      // Closed or unsubscribed during the replay: the hub may have added it after we removed it.
      if (this.subs.get(room) !== sub) hub.unsubscribe(room, sub);
      // A notice that came while it caught up did not reach it: the list is read again then (only then).
      else if (!truncated && !hub.presenceQuiet(room, mark)) void this.presenceSince(room, sub, presence);
      return info;
    });
  }

  /**
   * Resolves once this session's subscription of `room` was handed entry `seq` of history `epoch`
   * (a client's own message, relayed back to it), so that what the session writes next comes
   * after it. At once when it has no such subscription, has the entry already, or follows another
   * history; when the subscription ends; after `capMs` at most (an entry the broker never brings).
   */
  delivered(room: string, epoch: string, seq: number, capMs: number): Promise<void> {
    const sub = this.subs.get(room);
    if (sub === undefined || sub.epoch !== epoch || sub.position >= seq) return Promise.resolve();
    return sub.handedOver(seq, capMs);
  }

  unsubscribe(room: string): void {
    this.dropSubscription(room, true);
    this.record('unsubscribe', 'ok');
  }

  /**
   * Stores a message (a non-empty text, or data, or both; an optional event name); resolves with
   * its ack once stored. Validation: TEXT_REQUIRED (neither), BAD_REQUEST (an event name out of
   * pattern, data that is not JSON or nests deeper than MAX_DATA_DEPTH), INVALID_UTF8 (a lone
   * surrogate in the text or in a string of the data), MESSAGE_TOO_LARGE (UTF-8 bytes of the text
   * plus the JSON of the data over maxMessageBytes). CLIENT_ID_CONFLICT when this sender used
   * the clientId for another message. `onStored` is told the text, data and event stored (an
   * `onPublish` hook may have changed them) before the ack resolves.
   */
  publish(room: string, input: PublishInput, onStored?: (stored: Pick<MessageDraft, 'text' | 'data' | 'event'>) => void): Promise<Ack> {
    let payload!: MessagePayloadDraft;
    // A top-level null is no data: JSON clients send it for "none".
    const validate = (): void => void (payload = this.checkPayload(input.text ?? '', input.data ?? undefined, input.event));
    return this.run('publish', room, 'write', 'publish', async () => {
      const hook = this.ctx.hooks.onPublish;
      if (hook) {
        const answer = await hook({ principal: this.principal, room, transport: this.transport, message: { ...payload } });
        this.ensureOpen();
        if (answer === false) throw new SwitchboardError('FORBIDDEN', 'refused by the application');
        // A transformed message passes the same checks as one a client sent.
        if (answer && answer !== true) payload = this.checkPayload(answer.text ?? '', answer.data ?? undefined, answer.event);
      }
      let from = this.sender;
      const behalf = input.onBehalfOf;
      if (this.principal.kind === 'system' && behalf && (behalf.member || behalf.name)) {
        from = { id: this.id, name: behalf.name ?? behalf.member!, ...(behalf.member ? { member: behalf.member } : {}), transport: this.transport };
      }
      const ack = this.ctx.hub.publish({
        type: 'message',
        room,
        from,
        ...payload,
        ...(input.clientId !== undefined ? { clientId: input.clientId } : {}),
        ...(input.replyTo !== undefined ? { replyTo: input.replyTo } : {}),
      });
      return onStored ? ack.then((a) => (onStored(payload), a)) : ack;
    }, validate);
  }

  /**
   * Changes the text of message `seq` (its author, or a room admin): an `edit` entry, folded into
   * the message by the store. Validation as a publish's text (TEXT_REQUIRED, INVALID_UTF8,
   * MESSAGE_TOO_LARGE); FORBIDDEN for anyone else; MESSAGE_NOT_FOUND, MESSAGE_DELETED.
   */
  edit(room: string, seq: number, text: string, clientId?: string): Promise<Ack> {
    let checked!: string;
    const validate = (): void => {
      if (typeof text !== 'string' || text.length === 0) throw new SwitchboardError('TEXT_REQUIRED', 'an edit needs a non-empty text');
      checked = this.checkPayload(text, undefined, undefined).text;
    };
    return this.run('edit', room, 'write', 'publish', async () => {
      await this.mustBeAuthor(room, seq);
      return this.ctx.hub.publish({ type: 'edit', room, from: this.sender, target: seq, text: checked, ...(clientId !== undefined ? { clientId } : {}) });
    }, validate);
  }

  /** Deletes message `seq` (its author, or a room admin): a `delete` entry; the store erases the text. */
  deleteMessage(room: string, seq: number, clientId?: string): Promise<Ack> {
    return this.run('delete-message', room, 'write', 'publish', async () => {
      await this.mustBeAuthor(room, seq);
      return this.ctx.hub.publish({ type: 'delete', room, from: this.sender, target: seq, ...(clientId !== undefined ? { clientId } : {}) });
    });
  }

  /** Adds (`on` true), takes back (false) or toggles (absent) the sender's reaction `emoji` on message `seq`. */
  react(room: string, seq: number, emoji: string, on?: boolean, clientId?: string): Promise<Ack> {
    return this.run(
      'react',
      room,
      'read',
      'publish',
      () => this.ctx.hub.publish({ type: 'reaction', room, from: this.sender, target: seq, emoji, ...(on !== undefined ? { on } : {}), ...(clientId !== undefined ? { clientId } : {}) }),
      () => this.ctx.policy.requireLastingIdentity(this.principal, 'react'),
    );
  }

  /** Moves the member's read position forward (shared by its connections); resolves with the position stored. */
  markRead(room: string, seq: number): Promise<number> {
    return this.run(
      'mark-read',
      room,
      'read',
      'typing',
      async () => {
        const { member, name } = this.principal;
        const stored = await this.ctx.hub.store.setReadPosition(room, member, name, seq);
        if (stored.seq > stored.previous) this.ctx.hub.receipt({ room, member, name, seq: stored.seq });
        return stored.seq;
      },
      () => this.ctx.policy.requireLastingIdentity(this.principal, 'keep a read position'),
    );
  }

  /** The caller's read position and unread counts in `room`, and the room's readers (furthest first, at most 100). */
  readState(room: string): Promise<ReadState> {
    return this.run('read-state', room, 'read', 'query', async () => {
      const budget = { chars: UNREAD_TEXT_PER_REQUEST };
      const counts = await this.unreadIn(room, budget);
      this.chargeScan(UNREAD_TEXT_PER_REQUEST - budget.chars);
      const members = (await this.ctx.hub.store.listReadPositions(room, MAX_READERS_LISTED)).map((p) => ({ room, ...p }));
      return { ...counts, members };
    });
  }

  /** Unread counts in each of `rooms` the caller may read (a room it may not read, or that does not exist, is left out). */
  unread(rooms: string[]): Promise<UnreadCount[]> {
    return this.run('unread', undefined, undefined, 'query', async () => {
      const out: UnreadCount[] = [];
      const budget = { chars: UNREAD_TEXT_PER_REQUEST };
      try {
        for (const room of rooms) {
          if (!ROOM_NAME_PATTERN.test(room) || !this.may(room, 'read')) continue;
          try {
            out.push(await this.unreadIn(room, budget));
          } catch (err) {
            if (err instanceof SwitchboardError && err.code === 'ROOM_NOT_FOUND') continue;
            throw err;
          }
        }
      } finally {
        this.chargeScan(UNREAD_TEXT_PER_REQUEST - budget.chars);
      }
      return out;
    });
  }

  /** Messages of `room` whose current text has every word of `q` (as prefixes), newest first. */
  search(room: string, q: string, opts: { before?: number | undefined; limit?: number | undefined }): Promise<SearchResult> {
    return this.run('search', room, 'read', 'query', async () => {
      const state = await this.ctx.hub.room(room);
      const words = [...new Set(searchWords(q))].slice(0, MAX_SEARCH_WORDS);
      const limit = Math.max(1, Math.min(opts.limit ?? 20, 50));
      const { scanned, ...found }: SearchAnswer = words.length === 0 ? { results: [], more: false, complete: true } : await this.ctx.hub.store.search(room, { words, limit, ...(opts.before !== undefined ? { before: opts.before } : {}) });
      this.chargeScan(scanned ?? 0);
      return { room, epoch: state.epoch, query: q, ...found };
    });
  }

  /**
   * A scan's cost is its text (a search's, an unread count's): past the first
   * SEARCH_CHARS_PER_QUERY_UNIT characters, the query budget pays for the rest, into debt.
   */
  private chargeScan(chars: number): void {
    this.ctx.limits.charge('query', this.principal, Math.floor(chars / SEARCH_CHARS_PER_QUERY_UNIT));
  }

  /** FORBIDDEN unless the caller wrote message `seq` (same member) or is a room admin; MESSAGE_NOT_FOUND when there is none. */
  private async mustBeAuthor(room: string, seq: number): Promise<void> {
    const target = await this.ctx.hub.store.readMessage(room, seq);
    this.ensureOpen();
    if (!target) throw new SwitchboardError('MESSAGE_NOT_FOUND', `#${seq}`);
    if (target.from.member !== undefined && target.from.member === this.principal.member) return;
    if (this.may(room, 'admin')) return;
    throw new SwitchboardError('FORBIDDEN', 'only its author or a room admin may change a message');
  }

  /**
   * Counts messages after the caller's read position: not deleted, not its own; those that
   * mention it (outside code). Reads UNREAD_PAGE entries at a time and stops (`capped`) after UNREAD_SCAN
   * entries, UNREAD_TEXT_PER_ROOM characters of text, or when `budget` (shared by the rooms of
   * one request) is spent: rooms of huge messages cost bounded memory and time.
   */
  private async unreadIn(room: string, budget: { chars: number }): Promise<UnreadCount> {
    const { store } = this.ctx.hub;
    const { member, name } = this.principal;
    const seq = await store.getReadPosition(room, member);
    const mentionsMe = mentionTest(name, member);
    let unread = 0;
    let mentions = 0;
    let scanned = 0;
    let chars = 0;
    let after = seq;
    let capped = false;
    for (;;) {
      const page = await store.readAfter(room, after, UNREAD_PAGE);
      for (const e of page) {
        if (scanned >= UNREAD_SCAN || chars >= UNREAD_TEXT_PER_ROOM || budget.chars <= 0) {
          capped = true;
          break;
        }
        scanned++;
        after = e.seq;
        if (e.type !== 'message') continue;
        chars += e.text.length;
        budget.chars -= e.text.length;
        if (e.deleted || e.from.member === member) continue;
        unread++;
        if (mentionsMe(e.text)) mentions++;
      }
      if (capped || page.length < UNREAD_PAGE) break;
    }
    return { room, seq, unread, mentions, capped };
  }

  /** The validate step of a publish: TEXT_REQUIRED, BAD_REQUEST (event, data), INVALID_UTF8, MESSAGE_TOO_LARGE. */
  private checkPayload(text: unknown, data: unknown, event: unknown): MessagePayloadDraft {
    const { config } = this.ctx;
    if (typeof text !== 'string') throw new SwitchboardError('TEXT_REQUIRED', 'text must be a string');
    if (text.length === 0 && data === undefined) throw new SwitchboardError('TEXT_REQUIRED');
    if (event !== undefined && (typeof event !== 'string' || !EVENT_NAME_PATTERN.test(event))) throw new SwitchboardError('BAD_REQUEST', 'event: 1-64 of A-Z a-z 0-9 _ . : -');
    if (!text.isWellFormed()) throw new SwitchboardError('INVALID_UTF8', 'the text holds a lone surrogate');
    let bytes = Buffer.byteLength(text, 'utf8');
    if (data !== undefined) {
      const problem = dataProblem(data);
      if (problem === 'lone-surrogate') throw new SwitchboardError('INVALID_UTF8', 'a string of the data holds a lone surrogate');
      if (problem === 'too-deep') throw new SwitchboardError('BAD_REQUEST', `data: nests deeper than ${MAX_DATA_DEPTH} levels`);
      if (problem === 'not-json') throw new SwitchboardError('BAD_REQUEST', 'data: not a JSON value');
      bytes += Buffer.byteLength(JSON.stringify(data), 'utf8');
    }
    if (bytes > config.maxMessageBytes) throw new SwitchboardError('MESSAGE_TOO_LARGE', `limit is ${config.maxMessageBytes} bytes`);
    return { text, ...(data !== undefined ? { data: data as JsonValue } : {}), ...(event !== undefined ? { event: event as string } : {}) };
  }

  typing(room: string): Promise<void> {
    return this.run('typing', room, 'write', 'typing', async () => {
      await this.ctx.hub.room(room);
      this.ctx.hub.typing(room, { id: this.id, name: this.principal.name, member: this.principal.member });
    });
  }

  /**
   * `poll`, answering `reply` (once), at once when the answer needs no read (most polls): no
   * promise made on the way. Never throws: `reply.fail` (the pipeline's errors too).
   */
  pollTo(room: string, after: string | undefined, limit: number, ticket: string | undefined, reply: PollReply): void {
    let now: PollResult | Promise<PollResult>;
    try {
      this.check(room, 'read', undefined);
      this.refuseReadDebt();
      this.refuseKicked(room, ticket);
      now = this.ctx.hub.pollNow(room, after, limit);
    } catch (err) {
      this.failed('poll', err);
      reply.fail(err);
      return;
    }
    const recorded = new RecordedPoll(this, 'poll', 'polling', reply, room, ticket);
    if (now instanceof Promise) now.then((result) => recorded.answer(result), (err: unknown) => recorded.fail(err));
    else recorded.answer(now);
  }

  /**
   * `longPoll`, answering `reply` (once), with no promise on the way of a poll held at the live
   * head. Never throws: `reply.fail` (the pipeline's errors too).
   */
  holdPoll(room: string, after: string | undefined, limit: number, timeoutMs: number, ticket: string | undefined, reply: PollReply, seen?: SeenNotices): void {
    try {
      this.check(room, 'read', undefined);
      this.refuseReadDebt();
      this.refuseKicked(room, ticket);
      // Present for the whole hold (and 10 s more): the answer touches nothing.
      if (ticket) this.pollingAs = this.touchPresence(room, ticket, 'long-polling', timeoutMs).member;
    } catch (err) {
      this.failed('longpoll', err);
      reply.fail(err);
      return;
    }
    this.pollingIn = room;
    this.ctx.hub.holdPoll(room, after, limit, timeoutMs, this, new RecordedPoll(this, 'longpoll', 'long-polling', reply, room, undefined), seen);
  }

  poll(room: string, after: string | undefined, limit: number, ticket?: string): Promise<PollResult> {
    return this.run('poll', room, 'read', undefined, async () => {
      const result = await this.ctx.hub.poll(room, after, limit);
      if (ticket) this.touchPresence(room, ticket, 'polling');
      return result;
    }, () => {
      this.refuseReadDebt();
      this.refuseKicked(room, ticket);
    });
  }

  /** Holds until entries come, `timeoutMs` passes or the session closes. */
  longPoll(room: string, after: string | undefined, limit: number, timeoutMs: number, ticket?: string): Promise<PollResult> {
    return this.run('longpoll', room, 'read', undefined, () => {
      if (ticket) this.pollingAs = this.touchPresence(room, ticket, 'long-polling', timeoutMs).member;
      this.pollingIn = room;
      return this.ctx.hub.longPoll(room, after, limit, timeoutMs, this);
    }, () => {
      this.refuseReadDebt();
      this.refuseKicked(room, ticket);
    });
  }

  history(room: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    return this.run('history', room, 'read', undefined, () => this.ctx.hub.history(room, before, limit), () => this.refuseReadDebt());
  }

  /**
   * Charges the `read` budget for `bytes` of answer sent (history, polls, presence lists, room
   * lists: by the transport that sent them; a subscription's replay of the store: by subscribe):
   * one unit per READ_UNIT_BYTES, into debt. While the member or guest address owes, those and
   * subscribes are refused (RATE_LIMITED, refuseReadDebt): one client cannot keep the server
   * sending megabytes of answers as fast as it asks.
   */
  chargeRead(bytes: number): void {
    if (bytes >= READ_UNIT_BYTES) this.ctx.limits.charge('read', this.principal, Math.floor(bytes / READ_UNIT_BYTES));
  }

  /** RATE_LIMITED while the caller owes the `read` budget (chargeRead). */
  private refuseReadDebt(): void {
    this.ctx.limits.refuseInDebt('read', this.principal, 'history, poll, list and replay answers came faster than --read-rate allows');
  }

  /**
   * Who is in `room`: every member, or with `limit`, at most that many and, in a room of more,
   * `truncated` and the room's `count` (the store's count: one Redis SCARD, or one pass over the
   * room in memory, no list built).
   */
  presence(room: string, limit?: number): Promise<Omit<PresencePage, 'room'>> {
    return this.run('presence', room, 'read', undefined, async () => {
      const { presence } = this.ctx.hub;
      await this.ctx.hub.room(room);
      // One more than asked tells a room of more apart; a store may list more than that anyway.
      const read = limit === undefined ? undefined : limit + 1;
      // Which node holds each connection is for administrators only.
      const members = await (this.may(room, 'admin') ? presence.membersWithNodes(room, read) : presence.members(room, read));
      if (limit === undefined || members.length <= limit) return { members };
      return { members: members.slice(0, limit), truncated: true, count: await presence.count(room) };
    }, () => this.refuseReadDebt());
  }

  /**
   * A polling client joins a room's presence: returns a ticket its polls carry to stay present
   * (see PresenceTickets). Spends the address's `connect` budget, as a new connection would.
   */
  joinPresence(room: string): Promise<{ session: string; connectionId: string; member: string; name: string; ttlMs: number; members: PresenceMember[]; presenceTruncated?: true }> {
    return this.run('join', room, 'read', undefined, async () => {
      const { hub, limits, tickets } = this.ctx;
      limits.take('connect', `ip:${this.principal.address}`);
      await hub.room(room);
      // Its own record: a client's polling transports join with one connection id (see TicketClaims).
      const claims = { room, connectionId: this.id, member: this.principal.member, name: this.principal.name, attachment: randomId() };
      hub.presence.touch(room, { id: recordId(this.id, claims.attachment), member: claims.member, name: claims.name, transport: 'polling' });
      // As a subscriber's snapshot: in a big room a part of it, said so (every poller's join listing
      // the whole room was n² bytes, and one client's joins could make a 50,000-entry JSON each).
      const everyone = await hub.presence.members(room, PRESENCE_NOTICE_MAX_MEMBERS + 1);
      const truncated = everyone.length > PRESENCE_NOTICE_MAX_MEMBERS;
      const members = truncated ? everyone.slice(0, PRESENCE_NOTICE_MAX_MEMBERS) : everyone;
      return { session: tickets.issue(claims), connectionId: this.id, member: claims.member, name: claims.name, ttlMs: hub.pollPresenceTtlMs, members, ...(truncated ? { presenceTruncated: true as const } : {}) };
    });
  }

  /** True when `ticket` is a presence ticket this session may use in `room`. */
  validTicket(room: string, ticket: string): boolean {
    try {
      this.checkTicket(room, ticket);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A presence ticket for this session's principal in `room`, without joining yet (the lecture's
   * pollers get it as a cookie); undefined when the address's `connect` budget is spent.
   */
  issueTicket(room: string): string | undefined {
    try {
      this.ctx.limits.take('connect', `ip:${this.principal.address}`);
    } catch {
      return undefined;
    }
    return this.ctx.tickets.issue({ room, connectionId: this.id, member: this.principal.member, name: this.principal.name });
  }

  leavePresence(room: string, ticket: string): Promise<void> {
    return this.run('leave', room, 'read', undefined, async () => {
      const claims = this.checkTicket(room, ticket);
      this.ctx.hub.presence.detach(room, claims.record, claims);
    });
  }

  roomInfo(room: string): Promise<RoomInfo> {
    return this.run('room', room, 'read', undefined, () => this.ctx.hub.roomInfo(room));
  }

  /**
   * One page of rooms (see Hub.listRooms), keeping those this principal may read: a page may
   * hold fewer than `page.limit` rooms and still have a `next`.
   */
  async rooms(page: RoomPageRequest): Promise<{ rooms: RoomInfo[]; next?: string }> {
    this.refuseReadDebt();
    const { rooms, next } = await this.ctx.hub.listRooms(page);
    this.record('rooms', 'ok');
    const readable = rooms.filter((r) => this.may(r.name, 'read'));
    return next === undefined ? { rooms: readable } : { rooms: readable, next };
  }

  /** Creates the room when missing (create right and budget spent only then). */
  createRoom(room: string): Promise<{ info: RoomInfo; created: boolean }> {
    return this.run('create', room, undefined, undefined, async () => {
      const existing = await this.ctx.hub.store.getRoom(room);
      // An existing room is described only to those who may read it.
      if (existing) this.ctx.policy.authorize(this.principal, room, 'read');
      const created = existing ? false : (await this.create(room)).created;
      return { info: await this.ctx.hub.roomInfo(room), created };
    });
  }

  resetRoom(room: string): Promise<RoomInfo> {
    return this.run('reset', room, 'admin', undefined, async () => {
      await this.ctx.hub.resetRoom(room);
      return this.ctx.hub.roomInfo(room);
    });
  }

  deleteRoom(room: string): Promise<boolean> {
    return this.run('delete', room, 'admin', undefined, () => this.ctx.hub.deleteRoom(room));
  }

  /** Ends every connection of `member` on every node (in `room` only, when given). */
  disconnectMember(member: string, room?: string): Promise<void> {
    return this.run('disconnect', room, room === undefined ? undefined : 'admin', undefined, async () => {
      if (room === undefined && this.principal.kind !== 'system') throw new SwitchboardError('FORBIDDEN', 'only the server API disconnects a member from every room');
      await this.ctx.hub.disconnect(member, room);
    });
  }

  /**
   * A new token for this session (WebSocket `refresh`): it must name the same member. When the
   * new token no longer lets it read a room it is subscribed to, the session ends with FORBIDDEN.
   */
  refresh(token: string): Promise<{ expiresAt: number | undefined }> {
    return this.run('refresh', undefined, undefined, undefined, async () => {
      const next = await this.ctx.policy.authenticate({ token: { token, via: 'frame' }, cookieTrusted: false, address: this.principal.address, connectionId: this.id, claimed: {} });
      if (next.kind !== this.principal.kind || next.member !== this.principal.member) throw new SwitchboardError('FORBIDDEN', 'a refreshed token must name the same member');
      this.ensureOpen();
      this.principal = next;
      this.scheduleExpiry();
      const lost = [...this.subs.keys()].find((room) => !this.may(room, 'read'));
      if (lost !== undefined) this.close(new SwitchboardError('FORBIDDEN', `no read right in ${lost} any more`));
      return { expiresAt: next.expiresAt };
    });
  }

  // --- lifecycle --------------------------------------------------------------------------

  /**
   * Ends the session: leaves every room, ends held polls, closes its sink (saying `err`).
   * Idempotent. Its connection slot is released by the transport when the connection is gone
   * (so a shutdown waits for the last words to be written).
   */
  close(err?: SwitchboardError): void {
    if (this.closed) return;
    this.closedWith = err ?? null;
    clearTimeout(this.expiryTimer);
    if (this.subs.size > 0) for (const room of [...this.subs.keys()]) this.dropSubscription(room, true);
    const watchers = this.closeWatchers;
    this.closeWatchers = undefined;
    if (typeof watchers === 'function') watchers();
    else if (watchers) for (const wake of watchers) wake();
    this.output?.sink.close(err);
  }

  shutdown(): void {
    this.close(new SwitchboardError('SHUTTING_DOWN'));
  }

  destroy(): void {
    this.output?.sink.destroy();
    this.close();
  }

  /**
   * Write deadline, checked about once a second by the registry while this session's writes are
   * stuck (see `write`): a sink stalled this long is closed. True while it stays stalled.
   */
  sweep(now: number): boolean {
    const sink = this.output?.sink;
    if (!sink || this.closed || !sink.stalled) {
      this.stalledSince = undefined;
      return false;
    }
    this.stalledSince ??= now;
    if (now - this.stalledSince <= this.ctx.config.writeTimeoutMs) return true;
    this.ctx.metrics.errors.inc({ code: 'WRITE_TIMEOUT' });
    this.close(new SwitchboardError('WRITE_TIMEOUT'));
    return false;
  }

  /** Writes to the sink, unless the client already leaves too much unread (then it is dropped as SLOW_CONSUMER: it resumes later). */
  write(chunk: string | Buffer | undefined): void {
    if (chunk === undefined || chunk.length === 0 || this.closed || !this.output) return;
    if (this.output.sink.bufferedBytes > this.ctx.config.maxBufferedBytes) {
      this.ctx.metrics.errors.inc({ code: 'SLOW_CONSUMER' });
      this.close(new SwitchboardError('SLOW_CONSUMER'));
      return;
    }
    const sink = this.output.sink;
    sink.write(chunk);
    // A write that leaves the socket over its high-water mark starts the write deadline: only
    // such sessions are swept (the only writes that can stall a session's socket come this way,
    // or are a WebSocket's pings, which its heartbeat deadline covers).
    if (this.stalledSince === undefined && sink.stalled) {
      this.stalledSince = Date.now();
      this.ctx.connections.watchStalled(this);
    }
  }

  inRoom(room: string): boolean {
    return this.subs.has(room) || this.pollingIn === room;
  }

  actsFor(member: string): boolean {
    // As refuseKicked: a held poll is the member's its ticket names (a user's ticket names the user).
    return (this.pollingAs ?? this.principal.member) === member;
  }

  /** An error that ends nothing, in this session's wire format. */
  notify(err: SwitchboardError, room?: string, id?: string): void {
    if (!this.output) return;
    this.write(this.output.codec.error({ code: err.code, message: err.message, ...(room !== undefined ? { room } : {}), ...(id !== undefined ? { id } : {}) }));
  }

  get codec(): Codec | undefined {
    return this.output?.codec;
  }

  /** Called by a subscription whose room's history was reset (see ResetMode), or whose room was deleted. */
  onHistoryReset(room: string, sub: Subscription, deleted = false): void {
    if (this.subs.get(room) !== sub || !this.output) return;
    const mode = this.output.onReset;
    if (deleted) {
      const err = new SwitchboardError('ROOM_DELETED', room);
      if (mode === 'notify') {
        this.dropSubscription(room, true, sub);
        this.notify(err, room);
      } else this.close(err);
      return;
    }
    if (mode === 'end') {
      this.close(new SwitchboardError('HISTORY_RESET', room));
      return;
    }
    this.dropSubscription(room, mode === 'notify', sub);
    if (mode === 'notify') this.notify(new SwitchboardError('HISTORY_RESET', room), room);
    else void this.subscribe(room, {}).catch(() => this.close(new SwitchboardError('INTERNAL')));
  }

  /** True when the principal holds `right` in `room`. */
  may(room: string, right: Right): boolean {
    try {
      this.ctx.policy.authorize(this.principal, room, right);
      return true;
    } catch {
      return false;
    }
  }

  // --- the pipeline -----------------------------------------------------------------------

  /**
   * authorize → validate → limit → execute → record. The principal was authenticated when the
   * session was made; an expired token fails every command with TOKEN_EXPIRED.
   */
  private run<T>(command: string, room: string | undefined, right: Right | undefined, budget: Budget | undefined, execute: () => Promise<T>, validate?: () => void): Promise<T> {
    let pending: Promise<T>;
    try {
      this.check(room, right, budget, validate);
      pending = execute();
    } catch (err) {
      this.failed(command, err);
      return Promise.reject(err as Error);
    }
    // Not an async frame: a held long poll waits here, and what waits should be small.
    return pending.then(
      (result) => {
        this.record(command, 'ok');
        return result;
      },
      (err: unknown) => {
        this.failed(command, err);
        throw err;
      },
    );
  }

  /** The pipeline before execute: open, token not expired, room name, right, validate, budget. Throws. */
  private check(room: string | undefined, right: Right | undefined, budget: Budget | undefined, validate?: () => void): void {
    this.ensureOpen();
    const exp = this.principal.expiresAt;
    if (exp !== undefined && Date.now() >= exp) throw new SwitchboardError('TOKEN_EXPIRED');
    if (room !== undefined && !ROOM_NAME_PATTERN.test(room)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(room.slice(0, 80)));
    if (room !== undefined && right !== undefined) this.ctx.policy.authorize(this.principal, room, right);
    validate?.();
    if (budget !== undefined) this.ctx.limits.spend(budget, this.principal);
  }

  /** Records a command that failed with `err` (metrics by command, transport and error code). */
  failed(command: string, err: unknown): void {
    this.record(command, err instanceof SwitchboardError ? err.code : 'INTERNAL');
  }

  /** Records a command's outcome (`ok`, or an error code). */
  record(command: string, outcome: string): void {
    this.ctx.metrics.command(command, this.transport, outcome).value++;
  }

  /** The error the session was closed with, if it was closed with one. */
  get endedBy(): SwitchboardError | undefined {
    return this.closedWith ?? undefined;
  }

  private ensureOpen(): void {
    if (this.closed) throw this.closedWith ?? new SwitchboardError('SHUTTING_DOWN', 'the connection is closed');
  }

  private async roomState(room: string, create: boolean): Promise<RoomState> {
    const state = await this.ctx.hub.store.getRoom(room);
    if (state) return state;
    if (!create) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return (await this.create(room)).state;
  }

  private create(room: string): Promise<{ state: RoomState; created: boolean }> {
    this.ctx.policy.authorize(this.principal, room, 'create');
    this.ctx.limits.spendRoom(this.principal);
    return this.ctx.hub.createRoom(room);
  }

  private dropSubscription(room: string, leavePresence: boolean, only?: Subscription): void {
    const sub = this.subs.get(room);
    if (!sub || (only && sub !== only)) return;
    this.subs.delete(room);
    this.ctx.hub.unsubscribe(room, sub);
    sub.wake(Infinity);
    if (leavePresence && this.countsInPresence) this.ctx.hub.presence.detach(room, this.presenceRecord);
  }

  /**
   * Presence notices go to live subscribers only: one sent while `sub` was replaying missed it.
   * When one came (see Hub.presenceMark) and the members changed since its snapshot, it is told now.
   */
  private async presenceSince(room: string, sub: Subscription, snapshot: PresenceMember[]): Promise<void> {
    const now = await this.ctx.hub.presence.members(room, PRESENCE_NOTICE_MAX_MEMBERS + 1);
    if (this.subs.get(room) !== sub || now.length > PRESENCE_NOTICE_MAX_MEMBERS || samePresence(snapshot, now)) return;
    sub.deliverPresence(new Notice('presence', JSON.stringify({ type: 'presence', room, members: now })));
  }

  /**
   * Keeps the member of a presence ticket present in `room`, through a hold of `holdMs`; returns
   * what the ticket says. Throws INVALID_SESSION for a ticket not good here.
   */
  touchPresence(room: string, ticket: string, transport: 'polling' | 'long-polling', holdMs = 0): VerifiedClaims {
    const claims = this.checkTicket(room, ticket);
    this.ctx.hub.presence.touch(room, { id: claims.record, member: claims.member, name: claims.name, transport }, Date.now(), holdMs);
    return claims;
  }

  /**
   * Refuses a poll (MEMBER_DISCONNECTED) of a member an administrator disconnected: a poller
   * holds no connection between its requests for the order to end, so its next request gets the
   * order instead. The member is the ticket's (a guest's) or the principal's. A poll with a ticket
   * issued before the order (the connection that was disconnected) is refused for as long as the
   * order is remembered; one issued after it (the member joined again) goes through; one without
   * a ticket is refused for KICK_MEMORY_MS.
   */
  private refuseKicked(room: string, ticket: string | undefined): void {
    const hub = this.ctx.hub;
    if (!hub.anyKicked) return;
    const member = ticket ? this.checkTicket(room, ticket).member : this.principal.member;
    const at = hub.kickedAt(member, room);
    if (at === undefined) return;
    if (ticket) {
      const issued = this.ctx.tickets.issuedAt(ticket);
      if (issued !== undefined && issued > at) return;
    } else if (Date.now() - at >= KICK_MEMORY_MS) return;
    throw new SwitchboardError('MEMBER_DISCONNECTED');
  }

  private checkTicket(room: string, ticket: string): VerifiedClaims {
    // A lecture long poll checks its one ticket up to three times (cookie, hold, answer): once per
    // request is enough (only sessions of one request remember it; they last a long poll at most).
    const known = this.checkedTicket;
    if (known && known.ticket === ticket && known.room === room && known.principal === this.principal) return known.claims;
    const claims = this.ctx.tickets.verify(ticket, room);
    // A user's ticket is good for that user only; a guest's for any guest (guests have no proof of who they are).
    if (this.principal.kind === 'user' && claims.member !== this.principal.member) throw new SwitchboardError('INVALID_SESSION', 'issued to another member');
    // Nor for a guest: a keyed server names its guests after their connection (guest-<id>), so a
    // ticket that names anyone else is a user's (or the API key's), which a guest holding it (from
    // a URL in a log) would otherwise keep present. An open server's guests are who they claim.
    if (this.principal.kind === 'guest' && !this.ctx.policy.open && claims.member !== `guest-${claims.connectionId}`) throw new SwitchboardError('INVALID_SESSION', 'issued to another member');
    if (!this.output) this.checkedTicket = new CheckedTicket(ticket, room, this.principal, claims);
    return claims;
  }

  private get presenceRecord(): string {
    return (this.presenceId ??= recordId(this.id, randomId()));
  }

  private get presenceTransport(): TransportName {
    return this.transport === 'http' || this.transport === 'seed' ? 'polling' : this.transport;
  }

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    const exp = this.principal.expiresAt;
    if (exp === undefined || !this.output) return;
    // setTimeout holds at most 2^31-1 ms; a later expiry is checked again then.
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= exp) this.close(new SwitchboardError('TOKEN_EXPIRED'));
      else this.scheduleExpiry();
    }, Math.min(Math.max(0, exp - Date.now()), 2_147_483_647));
    this.expiryTimer.unref();
  }
}

/**
 * A poll's answer on its way from the hub to the route: the session records it (and, for a short
 * poll that carries a presence ticket, keeps its member present: a long poll's member was kept
 * present for its whole hold when it came), then passes it on.
 */
class RecordedPoll implements PollReply {
  constructor(
    private readonly session: Session,
    private readonly command: 'poll' | 'longpoll',
    private readonly transport: 'polling' | 'long-polling',
    private readonly reply: PollReply,
    private readonly room: string,
    private readonly ticket: string | undefined,
  ) {}

  answer(result: PollResult): void {
    // A held poll whose session an administrator ended is told so (its client stops), not answered as if it timed out.
    const kicked = this.session.endedBy;
    if (kicked?.code === 'MEMBER_DISCONNECTED') {
      this.fail(kicked);
      return;
    }
    if (this.ticket) {
      try {
        this.session.touchPresence(this.room, this.ticket, this.transport);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    this.session.record(this.command, 'ok');
    this.reply.answer(result);
  }

  fail(err: unknown): void {
    this.session.failed(this.command, err);
    this.reply.fail(err);
  }
}

/**
 * A presence ticket a session checked, with what it says. A class, not an object literal: V8
 * allocates a literal in the old generation once most objects of its site outlive a minor GC
 * (these live as long as a held poll), and a dead old object keeps what it points at (the
 * principal, young) alive through minor GCs until the next major one.
 */
class CheckedTicket {
  constructor(
    readonly ticket: string,
    readonly room: string,
    readonly principal: Principal,
    readonly claims: VerifiedClaims,
  ) {}
}

/** Entries after a read position that unread counts look at, at most. */
export const UNREAD_SCAN = 500;
/** Entries read from the store at a time while counting (what one count holds in memory at once). */
const UNREAD_PAGE = 64;
/** Characters of message text an unread count looks at per room, and per request (every room of `/api/read` together). */
const UNREAD_TEXT_PER_ROOM = 2 * 1024 * 1024;
const UNREAD_TEXT_PER_REQUEST = 16 * 1024 * 1024;
/** Readers listed by readState. */
const MAX_READERS_LISTED = 100;
/** Words of a search query used, at most. */
const MAX_SEARCH_WORDS = 16;
/**
 * Characters of text a scanning search (memory, Redis store) looks at per unit of the `query`
 * budget: a search of 8 MiB of big messages (about half a second of the event loop) costs 33
 * units, not one, so one client cannot keep the loop busy with them.
 */
export const SEARCH_CHARS_PER_QUERY_UNIT = 256 * 1024;

/** `members` with `member` in it (on `transport`): added first when missing, so a cut snapshot keeps it. */
function withMember(members: PresenceMember[], member: string, name: string, transport: TransportName): PresenceMember[] {
  const known = members.find((m) => m.member === member);
  if (!known) return [{ member, name, transports: [transport] }, ...members];
  if (known.transports.includes(transport)) return members;
  return members.map((m) => (m === known ? { ...m, transports: [...m.transports, transport] } : m));
}

/** Same members on the same transports (in any order). */
function samePresence(a: PresenceMember[], b: PresenceMember[]): boolean {
  if (a.length !== b.length) return false;
  const key = (m: PresenceMember): string => `${m.member}\u0000${m.name}\u0000${[...m.transports].sort().join()}`;
  const mine = new Set(a.map(key));
  return b.every((m) => mine.has(key(m)));
}

/** One room of a session: the hub delivers to it; it writes through the session's codec. */
class Subscription implements Subscriber {
  readonly transport: TransportName;
  position = 0;
  /** Bytes written while the subscription replays the store (Session.subscribe); undefined once live. */
  replayed: number | undefined;
  /** Who waits for an entry to be handed over (see Session.delivered); none for nearly every subscription. */
  private waiters: { seq: number; wake: () => void }[] | undefined;

  constructor(
    private readonly session: Session,
    readonly room: string,
    /** The history it follows (a reset ends it): seqs of another mean nothing here. */
    readonly epoch: string,
  ) {
    this.transport = session.transport === 'http' || session.transport === 'seed' ? 'websocket' : session.transport;
  }

  deliver(batch: Batch): void {
    const codec = this.session.codec!;
    const encoded = batch.encoded(codec.format, codec.entries);
    this.session.write(encoded);
    if (this.replayed !== undefined) this.replayed += encoded.length;
    if (this.waiters !== undefined) this.wake(this.position);
  }

  /** Resolves once entry `seq` was handed over (written), the subscription ended, or `capMs` passed. */
  handedOver(seq: number, capMs: number): Promise<void> {
    return new Promise((resolve) => {
      const waiter = {
        seq,
        wake: (): void => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters?.filter((w) => w !== waiter);
        if (this.waiters?.length === 0) this.waiters = undefined;
        resolve();
      }, capMs);
      (this.waiters ??= []).push(waiter);
    });
  }

  /** Wakes who waits for an entry up to `upTo` (Infinity: everyone, the subscription ended). */
  wake(upTo: number): void {
    const waiters = this.waiters;
    if (waiters === undefined) return;
    const woken = waiters.filter((w) => w.seq <= upTo);
    this.waiters = woken.length === waiters.length ? undefined : waiters.filter((w) => w.seq > upTo);
    for (const w of woken) w.wake();
  }

  deliverTyping(_notice: TypingNotice, encoded: Notice): void {
    this.session.write(encoded.encoded(this.session.codec!));
  }

  deliverPresence(notice: Notice): void {
    this.session.write(notice.encoded(this.session.codec!));
  }

  deliverReceipt(notice: Notice): void {
    this.session.write(notice.encoded(this.session.codec!));
  }

  historyReset(deleted?: boolean): void {
    this.session.onHistoryReset(this.room, this, deleted);
  }
}
