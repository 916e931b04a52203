import { formatCursor, parseCursor } from '../protocol/cursor.js';
import { MAX_PAGE, ROOM_NAME_PATTERN } from '../protocol/constants.js';
import { SwitchboardError } from '../protocol/errors.js';
import { jsonEqual } from '../protocol/payload.js';
import type { Ack, Entry, EntryDraft, HistoryPage, PollResult, ReadReceipt, RoomInfo, Sender, TransportName, TypingNotice } from '../protocol/types.js';
import { Batch, entryJson } from './batch.js';
import type { Broker, BrokerMessage } from './broker/broker.js';
import { DisconnectOrders } from './broker/disconnect-orders.js';
import type { DeliveryPace } from './delivery-pace.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import type { PresenceStore } from './presence/presence-store.js';
import { PollAnswers } from './poll-answers.js';
import { PollTimers, type Timed } from './poll-timers.js';
import { PresenceTracker } from './presence/presence-tracker.js';
import { RateLimiter } from './rate-limiter.js';
import { RoomChannel } from './room-channel.js';
import { TICKET_MAX_AGE_MS } from './session/presence-ticket.js';
import { clientIdOf, type MessageStore, type RoomPageRequest, type RoomState } from './store/message-store.js';
import { isAmendment } from './store/fold.js';
import type { OnceSubscriber, Subscriber } from './subscriber.js';

export interface HubOptions {
  store: MessageStore;
  broker: Broker;
  /** Presence records (shared by every node with Redis). */
  presence: PresenceStore;
  /** This node's name in presence records (what administrators see per connection). */
  node: string;
  logger: Logger;
  metrics: Metrics;
  /** Most rooms the store may hold. */
  maxRooms: number;
  /** A member leaves this long after its last connection closed. */
  presenceGraceMs: number;
  /**
   * Members per second this node's presence notices may go to (a notice counts its room's
   * members): past it, a room's due notice waits for the budget and gathers what changes
   * meanwhile. Default PRESENCE_NOTICE_RATE.
   */
  presenceNoticeRate?: number;
  /** Joins and leaves as log entries (true), or as `presence` notices only (false). */
  presenceEntries: boolean;
  /** A polling client is present this long after its last request. */
  pollPresenceTtlMs: number;
  /** A typing notice lasts this long. */
  typingTtlMs: number;
  /**
   * A room's channel with no live subscriber for this long is evicted: dropped from memory, and
   * the broker's interest in the room given back (`unwatch`). Default 30 s.
   */
  channelIdleMs?: number;
  /** Bytes of entry JSON one answer (poll, history) may carry; at least one entry is always sent. */
  maxAnswerBytes: number;
  /** How often a room may deliver while the process is behind (DeliveryPace); none: every batch at once. */
  deliveryPace?: DeliveryPace;
  /** Told of what webhooks report: once per cluster for each event (the node that made it happen). */
  onEvent?: (type: HubEvent, data: Record<string, unknown>) => void;
}

/** What the hub tells `onEvent` of. */
export type HubEvent = 'member.online' | 'member.offline' | 'room.created' | 'room.deleted' | 'message.published';

/**
 * True when a stored entry is what a draft describes: for a message the same text, data (as JSON)
 * and event (a message amended since, edited or deleted, no longer shows what was sent: taken as
 * the same); for an amendment the same target and text (an edit erased by a delete: the same),
 * emoji and `on` (when the draft gave one).
 */
function sameMessage(entry: Entry, draft: EntryDraft): boolean {
  if (entry.type !== draft.type) return false;
  if (entry.type === 'message' && draft.type === 'message') {
    if (entry.edited || entry.deleted) return true;
    return entry.text === draft.text && entry.event === draft.event && jsonEqual(entry.data, draft.data) && entry.replyTo === draft.replyTo;
  }
  if (entry.type === 'edit' && draft.type === 'edit') return entry.target === draft.target && (entry.text === draft.text || entry.text === '');
  if (entry.type === 'delete' && draft.type === 'delete') return entry.target === draft.target;
  if (entry.type === 'reaction' && draft.type === 'reaction') return entry.target === draft.target && entry.emoji === draft.emoji && (draft.on === undefined || draft.on === entry.on);
  return true;
}

/**
 * A room's read receipts go out from a node at most once per this long, in one notice: each
 * member's latest position of the window (a quiet room's first at once).
 */
export const RECEIPT_WINDOW_MS = 250;

/** Presence changes of a room within this long go out as one `presence` notice. */
const PRESENCE_NOTICE_MS = 100;
/**
 * After a room's notice, its next one waits this long at least: a room that keeps changing (a
 * connect or reconnect storm, members arriving every few ms) gets one notice a second, not one
 * per arrival to each of its members. A quiet room's change still goes out after PRESENCE_NOTICE_MS.
 */
export const PRESENCE_NOTICE_GAP_MS = 1000;
/**
 * Members per second a node's presence notices go to, by default (HubOptions.presenceNoticeRate,
 * `--presence-notice-rate`). In a connect storm over many rooms each arrival is a notice to its
 * room's members. 50,000 connections over 1,000 rooms (50 members each) and 3 workers: presence
 * notices were a third of a worker's time while they connected. Five pairs of runs, each pair in
 * one window (`npm run bench:connections -- --websocket 30000 --sse 10000 --long-polling 10000
 * --rooms 1000 --server-args="--workers 3"`, the machine's load moving the times from 62 to
 * 120 s): connected in 0.58-1.01 of the time without the bound (median 0.69); the servers' CPU
 * over two of those runs 0.65 and 0.91 of it. Rooms that a node changes at a usual pace never
 * reach it.
 */
export const PRESENCE_NOTICE_RATE = 2000;
/** The longest an entry or typing notice waits for the notice of its sender's arrival (see Hub.announceSender). */
const ANNOUNCE_WAIT_MS = 250;
/**
 * Rooms with more members than this get no live `presence` notice: each would carry the whole
 * list to every member. Their clients read `GET /api/rooms/:room/presence`.
 */
export const PRESENCE_NOTICE_MAX_MEMBERS = 100;

/**
 * How long a disconnect order keeps refusing the disconnected member's polls that carry no
 * presence ticket (MEMBER_DISCONNECTED): past the longest wait of a poller between two requests
 * (the SDK's 2 s by default, the app's slowest setting 10 s), so its next poll still gets the
 * order, and short, since a disconnect is not a ban. A poll with a ticket issued before the order
 * (the disconnected connection's) is refused as long as such a ticket is good
 * (TICKET_MAX_AGE_MS); one issued after it (the member joined again) goes through.
 */
export const KICK_MEMORY_MS = 60_000;

/** Entries read from the store per call while an answer is filled: bounds the memory one request holds. */
const READ_CHUNK = 64;

/** A poll's page as it fills: its entries, their JSON's bytes, and whether one more was left out. */
interface Page {
  entries: Entry[];
  bytes: number;
  more: boolean;
}

/**
 * Adds `chunk`'s entries to `page` (a new one when absent) while it holds fewer than `n` and
 * their JSON stays within `maxBytes` (the first entry always fits); `more` once one is left out.
 */
function pageOf(chunk: readonly Entry[], n: number, maxBytes: number, page: Page = { entries: [], bytes: 0, more: false }): Page {
  for (const e of chunk) {
    const size = entryJson(e).length;
    if (page.entries.length >= n || (page.entries.length > 0 && page.bytes + size > maxBytes)) {
      page.more = true;
      break;
    }
    page.entries.push(e);
    page.bytes += size;
  }
  return page;
}

/** See Hub.presenceMark. */
export interface PresenceMark {
  readonly channel: RoomChannel;
  readonly notices: number;
}

/**
 * The latest notices a long-polling client knows of (the `presenceAt` and `typingAt` of its last
 * answer): a newer one answers its poll at once (Hub.holdPoll).
 */
export interface SeenNotices {
  presenceAt?: number | undefined;
  typingAt?: number | undefined;
}

/** True when the room's `latest` is newer than what the client says it `seen` (it said nothing: not newer). */
function newer(latest: number | undefined, seen: number | undefined): boolean {
  return seen !== undefined && (latest ?? 0) > seen;
}

/** What ends a held poll early (its session's close). */
export interface PollStop {
  /** Calls `wake` once when the poll must end (at once when it must already), unless `offClose(wake)` came first. */
  onClose(wake: () => void): void;
  /** Forgets a `wake` given to onClose. */
  offClose(wake: () => void): void;
}

/**
 * Where a poll's answer goes: `answer` or `fail`, once. An object, not a promise: a held poll
 * answered through a chain of promises (the hold's, the session's record, the route's await,
 * the router's catch) made some 0.7 KB of promises, reactions and closures per request.
 * Implementations do not throw (they are called from a microtask).
 */
export interface PollReply {
  answer(result: PollResult): void;
  fail(err: unknown): void;
}

/** A PollReply that settles a promise (for callers that want one). */
function promisedReply(): { reply: PollReply; answered: Promise<PollResult> } {
  let reply!: PollReply;
  const answered = new Promise<PollResult>((resolve, reject) => (reply = { answer: resolve, fail: reject }));
  return { reply, answered };
}

/**
 * Ends a held poll whose answer no one waits for any more (its caller answered otherwise). One
 * woken meanwhile (its timeout, a notice, an entry) answers `answered` all the same, and that
 * answer may be a failure: a store read refused during a Redis failover. Read by no one, it
 * was an unhandled rejection, which ends a node's process.
 */
function abandon(waiter: HeldPoll, answered: Promise<PollResult>): void {
  if (!waiter.cancel()) answered.catch(() => {});
}

/**
 * A long poll held at a position of a room: a subscriber of its channel until something wakes it
 * (entries, a typing notice, a reset, its timeout, its session's close), then it answers its
 * reply and lets go of the channel, the timer and the session. No async frame and no promise
 * wait while it is held: what a held poll keeps is this object, and its methods are the
 * class's, not closures made per poll: a poll is the hottest request there is.
 */
class HeldPoll implements OnceSubscriber, Timed {
  readonly transport = 'long-polling' as const;
  listPrev: OnceSubscriber | undefined = undefined;
  listNext: OnceSubscriber | undefined = undefined;
  listOwner: object | undefined = undefined;
  timerPrev: Timed | undefined = undefined;
  timerNext: Timed | undefined = undefined;
  timerQueue: object | undefined = undefined;
  deadline = 0;
  /** Wakes it (the timeout's and the session close's callback too). */
  readonly wake: () => void;
  /** The first batch that woke it, if a batch did. */
  private wokenBy: Batch | undefined;
  /** Where it was held (`position` is the channel's to move as it delivers), in the history of `epoch`. */
  private readonly from: number;
  private readonly epoch: string;
  /** HELD; WOKEN or CANCELLED (timer and session let go; the channel lets go, and a woken one answers, in a microtask); GONE. */
  private state: number = HELD;

  constructor(
    private readonly hub: Hub,
    private readonly room: string,
    private readonly channel: RoomChannel,
    public position: number,
    private readonly after: string | undefined,
    private readonly limit: number,
    timeoutMs: number,
    private readonly stop: PollStop,
    private readonly reply: PollReply,
  ) {
    this.from = position;
    this.epoch = channel.epoch;
    this.wake = () => this.woken();
    channel.hold(this);
    hub.pollTimers.add(this, timeoutMs);
    stop.onClose(this.wake);
  }

  /** Its timeout passed (PollTimers). */
  expire(): void {
    this.wake();
  }

  deliver(batch: Batch): void {
    this.wokenBy ??= batch;
    this.wake();
  }

  historyReset(): void {
    this.wake();
  }

  /** A typing notice answers the held poll too (with no entries), so long-polling clients see it live. */
  deliverTyping(): void {
    this.wake();
  }

  /** So does a presence notice: the answer's `presenceAt` tells the client to read the member list again. */
  deliverPresence(): void {
    this.wake();
  }

  /** Ends the hold without an answer (the caller answers otherwise); false when it was woken already (it answers). */
  cancel(): boolean {
    if (this.state !== HELD) return this.state === CANCELLED;
    this.release(CANCELLED);
    return true;
  }

  private woken(): void {
    if (this.state === HELD) this.release(WOKEN);
    else if (this.state === WOKEN || this.state === CANCELLED) {
      // Called again from the microtask: what woke it has run to its end (a channel's delivery loop
      // and its count by transport; a typing notice's clearing of the shared answers, which its answer must not predate).
      const answer = this.state === WOKEN;
      this.state = GONE;
      this.channel.letGo(this);
      if (!answer) return;
      // A poll from now (no cursor) answers from where it was held, not from "now" at its wake:
      // that could be past an entry stored but not delivered yet (one waiting for the notice of
      // its sender's arrival, which woke this poll), and the client would never get it.
      const after = this.after ?? (this.channel.epoch === this.epoch ? formatCursor({ epoch: this.epoch, seq: this.from }) : undefined);
      let result: PollResult | Promise<PollResult>;
      try {
        result = this.hub.wokenAnswer(this.room, after, this.limit, this.from, this.wokenBy);
      } catch (err) {
        this.reply.fail(err);
        return;
      }
      if (result instanceof Promise) result.then((r) => this.reply.answer(r), (err: unknown) => this.reply.fail(err));
      else this.reply.answer(result);
    }
  }

  private release(next: typeof WOKEN | typeof CANCELLED): void {
    this.state = next;
    this.hub.pollTimers.delete(this);
    this.stop.offClose(this.wake);
    settleLater(this);
  }

  /** From the microtask after its release: see woken. */
  settle(): void {
    this.woken();
  }
}

/** Held polls released in this turn, settled in one microtask after what released them (not a microtask each). */
let releasing: HeldPoll[] = [];

function settleLater(poll: HeldPoll): void {
  releasing.push(poll);
  if (releasing.length === 1) queueMicrotask(settleReleased);
}

function settleReleased(): void {
  const polls = releasing;
  releasing = [];
  for (const poll of polls) {
    try {
      poll.settle();
    } catch (err) {
      // Thrown as it was from a microtask of its own, without keeping the others from settling.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** States of a HeldPoll. */
const HELD = 0;
const WOKEN = 1;
const CANCELLED = 2;
const GONE = 3;

/** The format name of a batch's long-poll answer for `limit` (the default limit's made once). */
function longPollFormat(limit: number): string {
  return limit === 100 ? 'longpoll:100' : `longpoll:${limit}`;
}

/** Where a subscription starts, once the cursor was checked against the room's history. */
export interface StartPosition {
  epoch: string;
  /** Last seq the client has: delivery starts at seq + 1. */
  seq: number;
  reset?: 'epoch' | 'expired';
}

/**
 * The hub: rooms, their logs and live fan-out. Every transport goes through it.
 *
 * A publish is stored first (the store assigns the seq), acknowledged, then handed to the
 * broker; the broker brings it back to the hub of every node, whose RoomChannel delivers it to
 * local subscribers in seq order. A subscriber that starts from a cursor replays the store
 * first and goes live without gap or duplicate (see RoomChannel).
 */
export class Hub {
  readonly presence: PresenceTracker;
  private readonly channels = new Map<string, RoomChannel>();
  private readonly channelsLoading = new Map<string, Promise<RoomChannel>>();
  private readonly channelIdleMs: number;
  private readonly sweeper: NodeJS.Timeout;
  /** Rooms whose presence notice is due, with the members it is about, or cooling after one (an empty set): see presenceChanged. */
  private readonly presenceDue = new Map<string, Set<string>>();
  /** Rooms whose notice is being sent ahead of an entry or typing notice (announceSender): the room's entries wait for it. */
  private readonly presenceSent = new Map<string, Promise<void>>();
  /** Rooms this node last found over PRESENCE_NOTICE_MAX_MEMBERS members in a presence notice's read (see sendPresence). */
  private readonly bigRooms = new Set<string>();
  /** The timeouts of held long polls (one timer per timeout length). */
  readonly pollTimers = new PollTimers();
  /** What this node's presence notices may still cost, in members they go to (see HubOptions.presenceNoticeRate). */
  private readonly presenceBudget: RateLimiter;
  /** The poll answer that is a whole batch (one function for every batch, not a closure per woken poll). */
  private readonly batchAnswer = (b: Batch): PollResult => this.pollResult(b.room, b.epoch, [...b.entries], b.lastSeq, false);
  /** Shared poll answers of each live room (see PollAnswers). */
  private readonly pollAnswers = new WeakMap<RoomChannel, PollAnswers>();
  private disconnectHandler: (member: string, room: string | undefined) => void = () => {};
  /**
   * Members an administrator disconnected lately, by member and room (or every room). A poller
   * holds no connection between its requests for the order to end; its next request is refused
   * instead (Session.refuseKicked).
   */
  private readonly kicked = new DisconnectOrders();
  /** The rooms whose receipts went out within the last RECEIPT_WINDOW_MS: each member's latest held back since. */
  private readonly receipts = new Map<string, Map<string, ReadReceipt>>();

  constructor(private readonly options: HubOptions) {
    this.presence = new PresenceTracker(
      options.presence,
      (room, type, from) => {
        if (type !== 'change') options.onEvent?.(type === 'join' ? 'member.online' : 'member.offline', { room, member: from.member ?? from.id, name: from.name });
        void (type === 'change' || !options.presenceEntries ? this.presenceChanged(room, from.member ?? from.id) : this.publishPresence(room, type, from));
      },
      { graceMs: options.presenceGraceMs, pollTtlMs: options.pollPresenceTtlMs, ttlMs: 30_000, node: options.node },
      options.logger,
    );
    options.broker.onMessage((message) => this.onBrokerMessage(message));
    options.broker.onReconnect?.(() => void this.resync());
    this.channelIdleMs = options.channelIdleMs ?? 30_000;
    const noticeRate = options.presenceNoticeRate ?? PRESENCE_NOTICE_RATE;
    this.presenceBudget = new RateLimiter(noticeRate, noticeRate);
    // A sweep walks the channels of this node, which follow the rooms in use (not every room).
    this.sweeper = setInterval(() => this.evictIdle(), Math.max(50, Math.min(this.channelIdleMs / 2, 10_000)));
    this.sweeper.unref();
  }

  /**
   * Where the room's presence notices stand on this node, for `presenceQuiet`: a subscriber takes
   * a mark before it reads its snapshot, since notices reach only live subscribers.
   */
  presenceMark(room: string): PresenceMark | undefined {
    const channel = this.channels.get(room);
    return channel && { channel, notices: channel.presenceNotices };
  }

  /** True when no presence notice of the room reached this node since `mark` (none undefined: it may have missed some). */
  presenceQuiet(room: string, mark: PresenceMark | undefined): boolean {
    return mark !== undefined && this.channels.get(room) === mark.channel && mark.channel.presenceNotices === mark.notices;
  }

  get store(): MessageStore {
    return this.options.store;
  }

  /** The room's state; creates the room when `create` is set. Throws INVALID_ROOM_NAME, ROOM_NOT_FOUND, ROOM_LIMIT. */
  async room(name: string, create = false): Promise<RoomState> {
    if (!ROOM_NAME_PATTERN.test(name)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(name.slice(0, 80)));
    const state = await this.options.store.getRoom(name);
    if (state) return state;
    if (!create) throw new SwitchboardError('ROOM_NOT_FOUND', name);
    return (await this.createRoom(name)).state;
  }

  /** Creates the room when missing; the cap (ROOM_LIMIT) is checked by the store in the same atomic step. */
  async createRoom(name: string): Promise<{ state: RoomState; created: boolean }> {
    if (!ROOM_NAME_PATTERN.test(name)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(name.slice(0, 80)));
    const result = await this.options.store.createRoom(name, this.options.maxRooms);
    if (result.created) this.options.onEvent?.('room.created', { room: name });
    return result;
  }

  /** Wipes a room's history (a new epoch): live subscribers on every node are told HISTORY_RESET. */
  async resetRoom(name: string): Promise<RoomState> {
    const state = await this.options.store.resetRoom(name);
    await this.options.broker.publish({ kind: 'room', action: 'reset', room: name });
    return state;
  }

  /** Deletes a room and its history; subscribers on every node are ended. Resolves false when there was none. */
  async deleteRoom(name: string): Promise<boolean> {
    const deleted = await this.options.store.deleteRoom(name);
    if (!deleted) throw new SwitchboardError('ROOM_NOT_FOUND', name);
    await this.options.broker.publish({ kind: 'room', action: 'delete', room: name });
    this.options.onEvent?.('room.deleted', { room: name });
    return true;
  }

  /**
   * Ends every connection of `member` (in `room` only, when given) on every node. The order is
   * kept for the nodes that start later: by the broker when it shares orders
   * (Broker.recentDisconnects), else with the data (MessageStore.keepDisconnect) by this hub
   * alone (with --workers, the worker that took the order: the others only hear it), before it
   * is published, so a node that restarts once a connection was ended still refuses its polls.
   * STORE_UNAVAILABLE when the store cannot keep it (then nothing was ended).
   */
  async disconnect(member: string, room?: string): Promise<void> {
    const order = { member, ...(room !== undefined ? { room } : {}), at: Date.now() };
    if (!this.options.broker.recentDisconnects) await this.options.store.keepDisconnect(order);
    await this.options.broker.publish({ kind: 'disconnect', ...order });
  }

  /** Sets the one handler of disconnect orders (the connection registry of this node). */
  onDisconnect(handler: (member: string, room: string | undefined) => void): void {
    this.disconnectHandler = handler;
  }

  get pollPresenceTtlMs(): number {
    return this.options.pollPresenceTtlMs;
  }

  async roomInfo(name: string): Promise<RoomInfo> {
    const s = await this.room(name);
    return { name: s.name, epoch: s.epoch, lastSeq: s.lastSeq, firstSeq: s.firstSeq, members: await this.presence.count(name) };
  }

  /**
   * One page of rooms by name (see MessageStore.listRooms), each with its member count: one store
   * page and one presence round trip, whatever the number of rooms.
   */
  async listRooms(page: RoomPageRequest): Promise<{ rooms: RoomInfo[]; next?: string }> {
    const { rooms, next } = await this.options.store.listRooms(page);
    const counts = await this.presence.counts(rooms.map((r) => r.name));
    const infos = rooms.map((s) => ({ name: s.name, epoch: s.epoch, lastSeq: s.lastSeq, firstSeq: s.firstSeq, members: counts.get(s.name) ?? 0 }));
    return next === undefined ? { rooms: infos } : { rooms: infos, next };
  }

  /**
   * Stores a message and fans it out. Resolves once stored (the ack); throws INVALID_ROOM_NAME,
   * ROOM_NOT_FOUND, STORE_UNAVAILABLE; a clientId the same sender stored before resolves with
   * the original seq and `duplicate: true` and stores nothing, or throws CLIENT_ID_CONFLICT when
   * that message was another one (another text, data or event).
   */
  async publish(draft: EntryDraft): Promise<Ack> {
    const started = process.hrtime.bigint();
    // The store answers ROOM_NOT_FOUND itself: no extra read per publish.
    if (!ROOM_NAME_PATTERN.test(draft.room)) throw new SwitchboardError('INVALID_ROOM_NAME', JSON.stringify(draft.room.slice(0, 80)));
    const { entry, epoch, duplicate } = await this.options.store.append(draft);
    if (duplicate) {
      // Only the same sender's retry may be answered from its key, and only for the same message.
      if (!sameMessage(entry, draft)) throw new SwitchboardError('CLIENT_ID_CONFLICT', clientIdOf(draft));
      this.options.metrics.duplicates.inc();
    } else {
      this.options.metrics.published.inc({ type: entry.type });
      if (entry.type === 'message') {
        const { room, seq, from, text, data, event, ts } = entry;
        this.options.onEvent?.('message.published', { room, seq, from, text, ...(data !== undefined ? { data } : {}), ...(event !== undefined ? { event } : {}), ts });
      }
    }
    // A duplicate is fanned out again: the first attempt may have been stored by a node that died
    // before fanning it out, and the retry is then the only way it goes out now. Receivers drop
    // seqs they already have.
    const announcing = entry.type === 'join' || entry.type === 'leave' ? this.presenceSent.get(entry.room) : this.announceSender(entry.room, entry.from.member ?? entry.from.id);
    if (announcing !== undefined) await announcing;
    await this.options.broker.publish({ kind: 'entry', epoch, entry });
    this.options.metrics.publishLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    const ack: Ack = { room: entry.room, seq: entry.seq, ts: entry.ts, epoch, duplicate, cursor: formatCursor({ epoch, seq: entry.seq }) };
    const clientId = clientIdOf(entry);
    if (clientId !== undefined) ack.clientId = clientId;
    return ack;
  }

  /**
   * Tells the room's WebSocket and SSE subscribers on every node that a member's read position
   * moved: at most one notice per room per RECEIPT_WINDOW_MS from this node, holding each
   * member's latest position of the window (a quiet room's first goes at once). Each member
   * whose client marks its position once a second was a notice of its own to every subscriber:
   * in a room of M readers, M² frames a second.
   */
  receipt(receipt: ReadReceipt): void {
    // After the notice of the member's arrival, when that one is still due, as its typing or its
    // messages go: a page would show "Seen by" a member not yet in its list of who is here.
    const announcing = this.announceSender(receipt.room, receipt.member);
    if (announcing === undefined) this.queueReceipt(receipt);
    else void announcing.then(() => this.queueReceipt(receipt));
  }

  /** Sends `receipt` now when its room's window is closed (and opens one), else keeps it for the window's end, each member's latest. */
  private queueReceipt(receipt: ReadReceipt): void {
    const { room } = receipt;
    const held = this.receipts.get(room);
    if (held) {
      held.set(receipt.member, receipt); // sent when the window ends
      return;
    }
    const window = new Map<string, ReadReceipt>();
    this.receipts.set(room, window);
    void this.options.broker.publish({ kind: 'receipt', receipt });
    const windowEnd = (): void => {
      if (window.size === 0) {
        this.receipts.delete(room);
        return;
      }
      const [first, ...more] = window.values();
      window.clear();
      void this.options.broker.publish(more.length > 0 ? { kind: 'receipt', receipt: first!, more } : { kind: 'receipt', receipt: first! });
      setTimeout(windowEnd, RECEIPT_WINDOW_MS).unref();
    };
    setTimeout(windowEnd, RECEIPT_WINDOW_MS).unref();
  }

  /**
   * Broadcasts an ephemeral typing notice to every node; after the presence notice of its
   * sender's arrival, when that one is still due (announceSender), as a message would.
   */
  typing(room: string, from: Sender): void {
    const notice: TypingNotice = { room, from };
    const announcing = this.announceSender(room, from.member ?? from.id);
    if (announcing === undefined) void this.options.broker.publish({ kind: 'typing', notice });
    else void announcing.then(() => this.options.broker.publish({ kind: 'typing', notice }));
  }

  /**
   * Checks a client's cursor against the room's history. No cursor means "from now on".
   * A cursor of another epoch, or one older than what retention kept, starts at the oldest
   * retained entry, flagged `reset`. Throws INVALID_CURSOR naming `source`, where the client
   * put the cursor (`after` unless told: the polls' parameter and the subscribe frame's field).
   */
  resolveStart(state: RoomState, cursorText: string | undefined, fromStart = false, source = 'after'): StartPosition {
    const cursor = parseCursor(cursorText, source);
    const oldest = state.firstSeq - 1;
    if (!cursor) return { epoch: state.epoch, seq: fromStart ? oldest : state.lastSeq };
    if ((cursor.epoch !== undefined && cursor.epoch !== state.epoch) || cursor.seq > state.lastSeq) {
      return { epoch: state.epoch, seq: oldest, reset: 'epoch' };
    }
    if (cursor.seq < oldest) return { epoch: state.epoch, seq: oldest, reset: 'expired' };
    return { epoch: state.epoch, seq: cursor.seq };
  }

  /**
   * Starts a live subscription at `start` (see resolveStart): replays what the store holds after
   * it, then delivers live entries, with no gap or duplicate in between.
   */
  async subscribe(room: string, sub: Subscriber, start: StartPosition): Promise<void> {
    const channel = await this.channel(room);
    sub.position = start.seq;
    channel.addCatchingUp(sub);
    try {
      for (;;) {
        const entries = await this.options.store.readAfter(room, sub.position, MAX_PAGE);
        if (entries.length === 0) break;
        const batch = new Batch(room, channel.epoch, entries);
        sub.position = batch.lastSeq;
        sub.deliver(batch);
        if (entries.length < MAX_PAGE) break;
      }
    } catch (err) {
      channel.remove(sub);
      throw err;
    }
    channel.caughtUp(sub);
  }

  unsubscribe(room: string, sub: Subscriber): void {
    const channel = this.channels.get(room);
    if (!channel) return;
    channel.remove(sub);
  }

  /** Entries after a cursor, at once (short polling). */
  async poll(room: string, after: string | undefined, limit: number): Promise<PollResult> {
    return this.answerNow(room, after, limit);
  }

  /**
   * `poll`, without a promise when the answer needs no read (one shared at this position, or the
   * empty one at the head: most polls). Throws (or rejects) as `poll` rejects.
   */
  pollNow(room: string, after: string | undefined, limit: number): PollResult | Promise<PollResult> {
    return this.sharedAnswer(room, after, limit) ?? this.readAnswerNow(room, after, limit) ?? this.readAnswer(room, after, limit);
  }

  /**
   * Entries after a cursor; when there are none yet, waits for the next ones until `timeoutMs`
   * or `stop` says so (the session closed), then answers with no entries (long polling).
   */
  longPoll(room: string, after: string | undefined, limit: number, timeoutMs: number, stop: PollStop): Promise<PollResult> {
    const { reply, answered } = promisedReply();
    this.holdPoll(room, after, limit, timeoutMs, stop, reply);
    return answered;
  }

  /**
   * `longPoll`, answering `reply` (once; at once when there is something already, else when
   * woken), with no promise on the way of a poll at the live head. Never throws: `reply.fail`.
   */
  holdPoll(room: string, after: string | undefined, limit: number, timeoutMs: number, stop: PollStop, reply: PollReply, seen: SeenNotices = {}): void {
    let cursor: ReturnType<typeof parseCursor>;
    let shared: PollResult | undefined;
    try {
      cursor = parseCursor(after, 'after');
      shared = this.sharedAnswer(room, after, limit, cursor) ?? this.readAnswerNow(room, after, limit, cursor);
    } catch (err) {
      reply.fail(err);
      return;
    }
    // Behind the head at a position other polls asked already (a poller back while more came):
    // their shared answer, at once, with nothing to wait for; at a position none asked yet, what
    // the store holds in memory (readAnswerNow), as much at once. So too when
    // the client says it knows an older presence or typing notice than the room's latest
    // (`presenceAt`, `typingAt`): one sent between its last answer and this poll woke no held
    // poll of its, and nothing else might answer this one for its whole timeout.
    if (shared && (shared.entries.length > 0 || shared.reset || newer(shared.presenceAt, seen.presenceAt) || newer(shared.typingAt, seen.typingAt))) {
      reply.answer(shared);
      return;
    }
    const channel = this.channels.get(room);
    // At the live head (the common case: a poller back for more) nothing is read and nothing is
    // there yet (sharedAnswer just said so, marking the room in use): what comes next wakes it.
    if (channel && cursor?.epoch === channel.epoch && cursor.seq === channel.head) {
      new HeldPoll(this, room, channel, cursor.seq, after, limit, timeoutMs, stop, reply);
      return;
    }
    this.longPollElsewhere(room, after, limit, timeoutMs, stop).then(
      (result) => reply.answer(result),
      (err: unknown) => reply.fail(err),
    );
  }

  /** A long poll not at the live head (or of a room with no channel yet): read what follows `after`, else hold. */
  private async longPollElsewhere(room: string, after: string | undefined, limit: number, timeoutMs: number, stop: PollStop): Promise<PollResult> {
    const position = this.resolveStart(await this.room(room), after).seq;
    const channel = await this.channel(room);
    // Registered before reading, so an entry stored meanwhile wakes it (no lost wake-up).
    const { reply, answered } = promisedReply();
    const waiter = new HeldPoll(this, room, channel, position, after, limit, timeoutMs, stop, reply);
    let now: PollResult;
    try {
      now = this.sharedAnswer(room, after, limit) ?? (await this.readAnswer(room, after, limit));
    } catch (err) {
      abandon(waiter, answered);
      throw err;
    }
    if (now.entries.length > 0 || now.reset) {
      abandon(waiter, answered);
      return now;
    }
    return answered;
  }

  /** What a poll held at `position` answers once woken: the batch that woke it (one answer object for every poll held at its position), or what the store has. */
  wokenAnswer(room: string, after: string | undefined, limit: number, position: number, batch: Batch | undefined): PollResult | Promise<PollResult> {
    if (batch && batch.firstSeq === position + 1 && batch.entries.length <= limit) {
      // Every poll held at this position gets the same answer object, encoded once.
      return batch.encoded(longPollFormat(limit), this.batchAnswer);
    }
    // Read again (shared, see answerNow): the history may have been reset meanwhile.
    return this.answerNow(room, after, limit);
  }

  /**
   * A page of history, newest last, going back from `before` (a seq; newest when absent).
   * Amendments are left out (the store folded them into their messages); the page still holds
   * `limit` messages and presence entries when that many exist.
   */
  async history(room: string, before: number | undefined, limit: number): Promise<HistoryPage> {
    const state = await this.room(room);
    const wanted = Math.max(1, Math.min(limit, MAX_PAGE));
    const chunks: Entry[][] = [];
    let n = 0;
    let bytes = 0;
    let cursor = before;
    // Newest first, in chunks, until the page or the byte budget is full.
    outer: while (n < wanted) {
      const asked = Math.min(READ_CHUNK, wanted - n);
      const chunk = await this.options.store.readBefore(room, cursor, asked);
      const kept: Entry[] = [];
      for (let i = chunk.length - 1; i >= 0; i--) {
        if (isAmendment(chunk[i]!)) continue;
        const size = entryJson(chunk[i]!).length;
        if (n > 0 && bytes + size > this.options.maxAnswerBytes) {
          chunks.unshift(kept.reverse());
          break outer;
        }
        kept.push(chunk[i]!);
        bytes += size;
        n++;
      }
      chunks.unshift(kept.reverse());
      if (chunk.length < asked) break;
      cursor = chunk[0]!.seq;
    }
    const entries = chunks.flat();
    const first = entries[0];
    return { room, epoch: state.epoch, entries, more: first !== undefined && first.seq > state.firstSeq };
  }

  /** Who is typing in a room now (for polling clients). */
  typingNow(room: string): Sender[] {
    return this.channels.get(room)?.typingNow() ?? [];
  }

  /** Live subscribers on this node, all rooms. */
  get subscriberCount(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.size;
    return n;
  }

  /** Live channels on this node (rooms it listens to), evicted ones not counted. */
  get channelCount(): number {
    return this.channels.size;
  }

  close(): void {
    clearInterval(this.sweeper);
    this.pollTimers.clear();
    this.presence.clear();
  }

  /**
   * What follows `after` now. Polls at one position share one answer while the room's head has
   * not moved (PollAnswers): at the head it is built without any read, elsewhere read once.
   */
  private async answerNow(room: string, after: string | undefined, limit: number): Promise<PollResult> {
    return this.sharedAnswer(room, after, limit) ?? this.readAnswerNow(room, after, limit) ?? (await this.readAnswer(room, after, limit));
  }

  /** The answer to `after` when it needs no read: one shared at this position, or the empty one at the head. */
  private sharedAnswer(room: string, after: string | undefined, limit: number, parsed?: ReturnType<typeof parseCursor>): PollResult | undefined {
    const live = this.channels.get(room);
    if (!live) return undefined;
    const now = Date.now();
    live.lastUsedAt = now; // polled: not idle
    const answers = this.answersOf(live);
    const known = answers.get(live.epoch, live.head, after, limit, now);
    if (known) return known;
    const cursor = parsed ?? parseCursor(after, 'after');
    if (cursor?.epoch === live.epoch && cursor.seq === live.head) {
      return answers.set(live.epoch, live.head, after, limit, this.pollResult(room, live.epoch, [], live.head, false), now);
    }
    return undefined;
  }

  /**
   * readAnswer with no read and no promise, for a cursor of this history behind the head of a
   * room this node has a channel of, when the store holds what follows it in memory
   * (`readAfterNow`: the memory store always, SQLite's tail cache for recent entries). A poller
   * that fell behind (the lecture's pollers take one message per answer) otherwise costs a read,
   * a held poll registered and cancelled, and a promise per step. Undefined otherwise.
   */
  private readAnswerNow(room: string, after: string | undefined, limit: number, parsed?: ReturnType<typeof parseCursor>): PollResult | undefined {
    const channel = this.channels.get(room);
    if (!channel || !this.options.store.readAfterNow) return undefined;
    const cursor = parsed ?? parseCursor(after, 'after');
    if (cursor?.epoch !== channel.epoch || cursor.seq >= channel.head) return undefined;
    const n = Math.max(1, Math.min(limit, MAX_PAGE));
    const chunk = this.options.store.readAfterNow(room, cursor.seq, n + 1);
    if (chunk === undefined || chunk.length === 0) return undefined;
    const page = pageOf(chunk, n, this.options.maxAnswerBytes);
    const result = this.pollResult(room, channel.epoch, page.entries, page.entries[page.entries.length - 1]!.seq, page.more);
    return this.answersOf(channel).set(channel.epoch, channel.head, after, limit, result);
  }

  /** The answer to `after` read from the store (shared with the polls that come at this position before the head moves). */
  private async readAnswer(room: string, after: string | undefined, limit: number): Promise<PollResult> {
    const start = this.resolveStart(await this.room(room), after);
    const channel = await this.channel(room); // keeps typing notices of this room on this node
    const { epoch, head } = channel;
    const result = await this.readPoll(room, start, limit);
    // Shared only when nothing came meanwhile (then the next poll finds it in the store anyway).
    return channel.head === head && channel.epoch === epoch && this.channels.get(room) === channel ? this.answersOf(channel).set(epoch, head, after, limit, result) : result;
  }

  private answersOf(channel: RoomChannel): PollAnswers {
    let answers = this.pollAnswers.get(channel);
    if (!answers) this.pollAnswers.set(channel, (answers = new PollAnswers()));
    return answers;
  }

  private async readPoll(room: string, start: StartPosition, limit: number): Promise<PollResult> {
    const n = Math.max(1, Math.min(limit, MAX_PAGE));
    const page: Page = { entries: [], bytes: 0, more: false };
    let after = start.seq;
    // In chunks, until the page or the byte budget is full: one request holds bounded memory.
    for (;;) {
      const asked = Math.min(READ_CHUNK, n - page.entries.length + 1);
      const chunk = await this.options.store.readAfter(room, after, asked);
      pageOf(chunk, n, this.options.maxAnswerBytes, page);
      if (page.more || chunk.length === 0 || page.entries.length >= n) break;
      after = chunk[chunk.length - 1]!.seq;
      if (chunk.length < asked) break;
    }
    const { entries, more } = page;
    const last = entries.length > 0 ? entries[entries.length - 1]!.seq : start.seq;
    const result = this.pollResult(room, start.epoch, entries, last, more);
    if (start.reset) result.reset = start.reset;
    return result;
  }

  private pollResult(room: string, epoch: string, entries: Entry[], lastSeq: number, more: boolean): PollResult {
    const channel = this.channels.get(room);
    const result: PollResult = { room, epoch, entries, cursor: formatCursor({ epoch, seq: lastSeq }), more, typing: this.typingNow(room) };
    if (channel && channel.presenceAt > 0) result.presenceAt = channel.presenceAt;
    if (channel && channel.typingAt > 0) result.typingAt = channel.typingAt;
    return result;
  }

  /**
   * Tells every node's subscribers that `member` arrived, left, or changed its connections (with
   * `--presence-entries`, only the last: arrivals and departures are entries then).
   */
  private presenceChanged(room: string, member: string): void {
    // A burst of arrivals (a reconnect storm) is one notice, not one per arrival.
    const due = this.presenceDue.get(room);
    if (due) {
      // Past the cap the notice is the whole list, if any: the names are not kept.
      if (due.size <= PRESENCE_NOTICE_MAX_MEMBERS) due.add(member);
      return;
    }
    this.presenceDue.set(room, new Set([member]));
    this.presenceNoticeIn(room, PRESENCE_NOTICE_MS);
  }

  /**
   * Whether what `member` sends to `room` (an entry, a typing notice) waits before it is fanned
   * out, and for what: the presence notice of its room, sent now, when the member's arrival (or
   * change) is in the room's due notice. A member who speaks or types within the notice's 100 ms
   * (up to a second while the room keeps changing) would otherwise be seen speaking before it is
   * seen coming. At most one such notice per entry or typing notice, and only for a member still
   * unannounced: a reconnect storm of silent members still gets one notice a second. While it is
   * sent, the room's other entries wait for it too, so they reach the broker in seq order; none
   * waits more than ANNOUNCE_WAIT_MS. Undefined (no wait, no promise) in every other case.
   */
  private announceSender(room: string, member: string): Promise<void> | undefined {
    const due = this.presenceDue.get(room);
    if (due !== undefined && due.size > 0 && due.has(member)) {
      // The timer finds the set empty: the room cools, as after any notice.
      this.presenceDue.set(room, new Set());
      // After the one in flight, if any: notices go out in the order their changes came.
      const previous = this.presenceSent.get(room);
      const send = (): Promise<void> => this.sendPresence(room, due);
      const notice = previous === undefined ? send() : previous.then(send);
      // Entries wait for it ANNOUNCE_WAIT_MS at most: a slow presence store (Redis in trouble)
      // delays the notice, not the room's messages.
      const bound = new Promise<void>((resolve) => setTimeout(resolve, ANNOUNCE_WAIT_MS).unref());
      const sent: Promise<void> = Promise.race([notice, bound]).then(() => {
        if (this.presenceSent.get(room) === sent) this.presenceSent.delete(room);
      });
      this.presenceSent.set(room, sent);
      return sent;
    }
    return this.presenceSent.size === 0 ? undefined : this.presenceSent.get(room);
  }

  /**
   * Sends the room's due notice in `ms`, then keeps the room cooling for PRESENCE_NOTICE_GAP_MS
   * (an empty due set: changes meanwhile gather there and go out as one notice at its end). A
   * room is in `presenceDue` only while it changed lately: no entry per room ever seen.
   */
  private presenceNoticeIn(room: string, ms: number): void {
    setTimeout(() => {
      const members = this.presenceDue.get(room);
      if (members === undefined || members.size === 0) {
        this.presenceDue.delete(room);
        return;
      }
      // Past the node's budget the notice waits (the changes meanwhile join it), until about when
      // the budget is back, spread over a gap so that the rooms waiting do not all wake at once.
      const wait = this.presenceBudget.secondsUntilNext();
      if (wait > 0) {
        this.presenceNoticeIn(room, wait * 1000 + Math.random() * PRESENCE_NOTICE_GAP_MS);
        return;
      }
      this.presenceDue.set(room, new Set());
      void this.sendPresence(room, members);
      this.presenceNoticeIn(room, PRESENCE_NOTICE_GAP_MS);
    }, ms).unref();
  }

  /**
   * The change, not the list: a notice with the whole list to every member was n² bytes per
   * room as it filled (50 members: 3.4 MB; 1,000 such rooms were 190 MB of the server's memory
   * and half its connect rate). Rooms of more than PRESENCE_NOTICE_MAX_MEMBERS get none: their
   * clients read `GET .../presence`; when one of them shrinks below the cap (or more members than
   * the cap changed at once), the whole list goes out once, for the clients that had a part.
   */
  private async sendPresence(room: string, due: Set<string>): Promise<void> {
    try {
      const cap = PRESENCE_NOTICE_MAX_MEMBERS;
      const overflow = due.size > cap;
      const { count, members } = await this.presence.lookup(room, overflow ? [] : [...due], cap);
      if (count > cap) {
        this.bigRooms.add(room);
        return;
      }
      if (overflow || this.bigRooms.delete(room)) {
        const list = await this.presence.members(room, cap + 1);
        if (list.length > cap) return;
        this.presenceBudget.charge(list.length);
        await this.options.broker.publish({ kind: 'presence', notice: { room, members: list, at: Date.now() } });
        return;
      }
      // Charged, not refused: a notice due is sent (announceSender's may not wait); the next ones wait for the debt.
      this.presenceBudget.charge(count);
      const here = new Set(members.map((m) => m.member));
      const left = [...due].filter((m) => !here.has(m));
      await this.options.broker.publish({ kind: 'presence', notice: { room, changed: members, left, count, at: Date.now() } });
    } catch (err) {
      this.options.logger.debug({ err, room }, 'presence notice not sent');
    }
  }

  private async publishPresence(room: string, type: 'join' | 'leave', from: Sender): Promise<void> {
    try {
      await this.publish({ type, room, from });
    } catch (err) {
      this.options.logger.warn({ err, room, type }, 'presence entry not stored');
    }
  }

  /**
   * The live channel of a room on this node, made on first use. Using it marks it in use, so the
   * sweep does not evict it before its caller added what keeps it (a subscriber) or is done.
   *
   * A new channel first has the broker watch the room, and only then reads the room's state: an
   * entry stored after that read comes through the broker (it is published after it is stored,
   * and so after the watch is active), and one stored before is at or below the channel's start,
   * where subscribers replay from the store. So a channel made again after an eviction goes live
   * without a gap.
   */
  private async channel(room: string): Promise<RoomChannel> {
    const existing = this.channels.get(room);
    if (existing) {
      existing.lastUsedAt = Date.now();
      return existing;
    }
    let loading = this.channelsLoading.get(room);
    if (!loading) {
      loading = (async () => {
        const broker = this.options.broker;
        await broker.watch?.(room);
        let state: RoomState;
        try {
          state = await this.room(room);
        } catch (err) {
          broker.unwatch?.(room);
          throw err;
        }
        const channel = new RoomChannel(
          room,
          state.epoch,
          state.lastSeq,
          this.options.store,
          (batch, recipients) => this.onDelivered(batch, recipients),
          this.options.deliveryPace,
        );
        this.channels.set(room, channel);
        channel.lastUsedAt = Date.now();
        return channel;
      })().finally(() => this.channelsLoading.delete(room));
      this.channelsLoading.set(room, loading);
    }
    const channel = await loading;
    channel.lastUsedAt = Date.now();
    return channel;
  }

  /** Drops a room's channel and gives the broker's interest back. Its subscribers, if any, are the caller's to end. */
  private dropChannel(room: string): RoomChannel | undefined {
    const channel = this.channels.get(room);
    if (!channel) return undefined;
    this.channels.delete(room);
    this.bigRooms.delete(room);
    channel.close();
    this.options.broker.unwatch?.(room);
    return channel;
  }

  /**
   * Evicts the channels that had no subscriber for `channelIdleMs`. Runs from a timer, never
   * between a caller's `await this.channel()` and what it does next (that is one microtask chain).
   */
  private evictIdle(now = Date.now()): void {
    for (const [room, channel] of this.channels) {
      if (channel.size > 0) channel.lastUsedAt = now;
      else if (now - channel.lastUsedAt >= this.channelIdleMs) this.dropChannel(room);
    }
  }

  /**
   * Catches every live room of this node up from the store: called when the broker listens again
   * after a lost connection, since entries published meanwhile never reached this node.
   */
  private async resync(): Promise<void> {
    for (const channel of [...this.channels.values()]) {
      try {
        const state = await this.options.store.getRoom(channel.name);
        if (state) await channel.resync(state.epoch);
      } catch (err) {
        // Store unreachable too: the gap is filled when the next entry of the room comes.
        this.options.logger.warn({ err, room: channel.name }, 'resync after a broker reconnection failed');
      }
    }
  }

  private onDelivered(batch: Batch, recipients: ReadonlyMap<TransportName, number>): void {
    this.options.metrics.delivered(batch.entries.length, recipients);
  }

  private onBrokerMessage(message: BrokerMessage): void {
    if (message.kind === 'entry') {
      // Rooms with no live channel on this node have no one to deliver to; polls read the store.
      this.channels.get(message.entry.room)?.receive(message.epoch, message.entry);
    } else if (message.kind === 'typing') {
      const channel = this.channels.get(message.notice.room);
      channel?.typingNotice(message.notice, this.options.typingTtlMs);
      // Shared poll answers carry who types: the held polls this notice wakes read a new one.
      if (channel) this.pollAnswers.get(channel)?.clear();
    } else if (message.kind === 'presence') {
      const channel = this.channels.get(message.notice.room);
      channel?.presenceNotice(message.notice);
      // Shared poll answers carry the latest notice's time: the held polls this notice wakes read a new one.
      if (channel) this.pollAnswers.get(channel)?.clear();
    } else if (message.kind === 'receipt') {
      this.channels.get(message.receipt.room)?.receiptNotice(message.more ? [message.receipt, ...message.more] : [message.receipt]);
    } else if (message.kind === 'room') {
      // A reset or deleted room: its live channel ends every subscriber (they resume and are told).
      this.dropChannel(message.room)?.end(message.action === 'delete');
    } else {
      // As of when it was ordered, not when it came: a member that joined again meanwhile (an
      // order that came late, after a broker outage) holds a ticket issued after it. Never later
      // than now: a node whose clock runs ahead does not refuse the tickets issued here after it.
      const now = Date.now();
      this.kicked.remember(message.member, message.room, Math.min(message.at ?? now, now));
      this.presence.dropPollers(message.member, message.room);
      this.disconnectHandler(message.member, message.room);
    }
  }

  /**
   * Remembers the disconnect orders the other nodes shared (Broker.recentDisconnects), or those
   * kept with the data when the broker shares none (MessageStore.recentDisconnects: this node's
   * own from before a restart; with --workers without Redis, every worker's, from the SQLite file
   * they share): called at start-up, since a node started after an order never heard it, and
   * would let in the polls of the connection it ended that had not come back yet.
   */
  async recallDisconnects(): Promise<void> {
    const { broker, store } = this.options;
    const orders = broker.recentDisconnects ? await broker.recentDisconnects() : await store.recentDisconnects(Date.now() - TICKET_MAX_AGE_MS);
    const now = Date.now();
    for (const order of [...orders].sort((x, y) => x.at - y.at)) this.kicked.remember(order.member, order.room, Math.min(order.at, now));
  }

  /** True while some disconnect order is remembered (a poll need look no further otherwise). */
  get anyKicked(): boolean {
    return this.kicked.size > 0;
  }

  /** When `member` was last disconnected from `room` (or from every room) by an administrator, within TICKET_MAX_AGE_MS; undefined otherwise. */
  kickedAt(member: string, room: string, now = Date.now()): number | undefined {
    return this.kicked.lookup(member, room, now);
  }
}
