import type { Entry, PresenceNotice, ReadReceipt, Sender, TransportName, TypingNotice } from '../protocol/types.js';
import { Batch } from './batch.js';
import type { DeliveryPace } from './delivery-pace.js';
import { IntrusiveList } from './intrusive-list.js';
import { Notice } from './notice.js';
import type { MessageStore } from './store/message-store.js';
import type { OnceSubscriber, Subscriber } from './subscriber.js';
import { SubscriberSet } from './subscriber-set.js';

/** How long an out-of-order entry waits for the ones before it before they are read from the store. */
const GAP_FILL_DELAY_MS = 50;

/** The longest wait between two reads of a gap the store cannot fill yet (the wait doubles from GAP_FILL_DELAY_MS). */
const GAP_FILL_MAX_DELAY_MS = 1000;

/** Entries read per store call when catching up after a broker reconnection. */
const RESYNC_PAGE = 500;

/**
 * The live side of one room on this node: its subscribers and the order of delivery.
 *
 * Entries arrive from the broker, possibly out of order when several nodes publish to the room.
 * The channel accepts them strictly by seq (holding early ones and reading missing ones from
 * the store after a short wait), gathers what arrives within one event-loop turn into one Batch,
 * and hands that batch to every subscriber: each recipient gets every entry once, in order.
 *
 * A gap is skipped only where the store no longer holds its entries (below the room's `firstSeq`:
 * retention trimmed them). A read that finds nothing else means "not readable yet" (with
 * `--redis-replicas`, entries past the confirmed mark while a failover is under way): the channel
 * reads again, less often the longer it lasts, and never delivers past an entry it has not had.
 */
export class RoomChannel {
  /** Live subscribers, counted by transport as they come and go (for the deliveries metric). */
  readonly subscribers = new SubscriberSet();
  /** Subscribers for one delivery (held long polls), and how many there are of each transport. */
  private readonly held = new IntrusiveList<OnceSubscriber>();
  private readonly heldByTransport = new Map<TransportName, number>();
  /** Subscribers still replaying history: live batches wait here until the replay is done. */
  private readonly catchingUp = new Map<Subscriber, Batch[]>();
  /** Seq of the last entry accepted for delivery. */
  private accepted: number;
  private pending: Entry[] = [];
  private readonly early = new Map<number, Entry>();
  /** The highest seq the store said exists (resync): a gap up to it is repaired as if an entry after it had come. */
  private expected = 0;
  private flushScheduled = false;
  /** When the last batch was delivered (performance.now()), for the pace. */
  private flushedAt = Number.NEGATIVE_INFINITY;
  private readonly flushNow = (): void => this.flush();
  private gapTimer: NodeJS.Timeout | undefined;
  /** Wait before the next read of a gap: GAP_FILL_DELAY_MS, doubled by each read that filled nothing. */
  private gapDelay = GAP_FILL_DELAY_MS;
  /** When the channel was last in use (epoch ms): it had subscribers, or a poll read it (the hub evicts idle ones). */
  lastUsedAt = 0;
  /** Presence notices this channel has had: a subscriber that saw the count move while it caught up missed one (Hub.presenceMark). */
  presenceNotices = 0;
  /** When the latest presence notice of the room was sent (PresenceNotice.at, epoch ms); 0 before any. */
  presenceAt = 0;
  /**
   * When this node last had a typing notice of the room (its clock, epoch ms, growing with every
   * notice); 0 before any. A long poll that says it knows an older one is answered at once.
   */
  typingAt = 0;
  /** Typing state for polling clients: member (or name) -> who and until when (epoch ms). */
  readonly typing = new Map<string, { from: Sender; until: number }>();

  constructor(
    readonly name: string,
    public epoch: string,
    lastSeq: number,
    /** Where missing entries are read (readAfter), and how far back the room is retained (getRoom's firstSeq). */
    private readonly log: Pick<MessageStore, 'readAfter' | 'getRoom'>,
    /** Told of each live batch and how many live subscribers of each transport it went to. */
    private readonly onDelivered: (batch: Batch, recipients: ReadonlyMap<TransportName, number>) => void,
    /** How often the room may deliver while the process is behind (none: every batch at once). */
    private readonly pace?: DeliveryPace,
  ) {
    this.accepted = lastSeq;
  }

  /** Seq of the last entry accepted for delivery on this node. */
  get head(): number {
    return this.accepted;
  }

  /** Takes an entry from the broker. Duplicates and entries already seen are dropped. */
  receive(epoch: string, entry: Entry): void {
    if (epoch !== this.epoch) {
      // The history was reset (a store lost its data): adopt the new epoch and end every
      // subscriber; their clients resume with an old-epoch cursor and are told `reset`.
      this.epoch = epoch;
      this.accepted = entry.seq - 1;
      this.early.clear();
      this.expected = 0;
      this.pending = [];
      const ended = this.dropAll();
      for (const sub of ended) sub.historyReset();
    }
    if (entry.seq <= this.accepted) return;
    if (entry.seq !== this.accepted + 1) {
      this.early.set(entry.seq, entry);
      this.scheduleGapFill();
      return;
    }
    this.accept(entry);
    for (let next = this.early.get(this.accepted + 1); next; next = this.early.get(this.accepted + 1)) {
      this.early.delete(next.seq);
      this.accept(next);
    }
    if (!this.gapOpen) {
      this.gapDelay = GAP_FILL_DELAY_MS;
      if (this.gapTimer) {
        clearTimeout(this.gapTimer);
        this.gapTimer = undefined;
      }
    }
  }

  /**
   * Reads from the store what follows the last accepted entry and takes it as if the broker had
   * brought it: used after the broker lost messages (a reconnection), when no later entry may come
   * to reveal the gap. `epoch` is the room's current one; entries of a new epoch go through
   * `receive`, which ends the subscribers of the old history.
   */
  async resync(epoch: string): Promise<void> {
    let after = epoch === this.epoch ? this.accepted : 0;
    for (;;) {
      const entries = await this.log.readAfter(this.name, after, RESYNC_PAGE);
      for (const entry of entries) this.receive(epoch, entry);
      if (entries.length < RESYNC_PAGE) break;
      after = entries[entries.length - 1]!.seq;
    }
    // A read that stopped short of the room's head (entries not readable yet: past the confirmed
    // mark during a failover) leaves a gap no later entry may reveal: repaired as any other.
    const state = await this.log.getRoom(this.name);
    if (state !== undefined && state.epoch === this.epoch && state.lastSeq > this.accepted) {
      this.expected = Math.max(this.expected, state.lastSeq);
      this.scheduleGapFill();
    }
  }

  /** Entries are missing before an early one, or up to the seq the store said exists. */
  private get gapOpen(): boolean {
    return this.early.size > 0 || this.expected > this.accepted;
  }

  /** The room was reset or deleted: every subscriber is told its history (or the room) is gone. */
  end(deleted = false): void {
    clearTimeout(this.gapTimer);
    const ended = this.dropAll();
    this.early.clear();
    this.expected = 0;
    this.pending = [];
    for (const sub of ended) sub.historyReset(deleted);
  }

  /** The channel is dropped (evicted): stops its timer. It must have no subscriber left. */
  close(): void {
    clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    this.early.clear();
    this.expected = 0;
  }

  /** Adds a subscriber that first replays history: live batches are held for it until `caughtUp`. */
  addCatchingUp(sub: Subscriber): void {
    this.catchingUp.set(sub, []);
  }

  /** Ends a replay: held batches after the subscriber's position are delivered, then it is live. */
  caughtUp(sub: Subscriber): void {
    const held = this.catchingUp.get(sub);
    if (!held) return;
    this.catchingUp.delete(sub);
    this.subscribers.add(sub);
    for (const batch of held) this.deliverTo(sub, batch);
  }

  remove(sub: Subscriber): void {
    this.subscribers.delete(sub);
    this.catchingUp.delete(sub);
  }

  /** Adds a subscriber for one delivery (a held long poll): live at once, until `letGo`. */
  hold(sub: OnceSubscriber): void {
    if (this.held.has(sub)) return;
    this.held.add(sub);
    this.heldByTransport.set(sub.transport, (this.heldByTransport.get(sub.transport) ?? 0) + 1);
  }

  /** Removes a subscriber added by `hold` (again: nothing). */
  letGo(sub: OnceSubscriber): void {
    if (this.held.delete(sub)) this.heldByTransport.set(sub.transport, this.heldByTransport.get(sub.transport)! - 1);
  }

  get size(): number {
    return this.subscribers.size + this.catchingUp.size + this.held.size;
  }

  /**
   * Sends an ephemeral typing notice to every live subscriber, encoded once, and keeps it for
   * polls until `ttlMs` from now. Notices that ran out are forgotten here, not only when a poll
   * asks: a room followed by WebSocket and SSE clients alone is never polled, and a typist of
   * a new name per notice (a guest's, on an open server or over HTTP) made one more entry each.
   */
  typingNotice(notice: TypingNotice, ttlMs: number): void {
    const now = Date.now();
    const key = notice.from.member ?? notice.from.name;
    // Deleted first: the map then holds its notices in the order they end (every ttl is the hub's one).
    this.typing.delete(key);
    for (const [old, t] of this.typing) {
      if (t.until > now) break;
      this.typing.delete(old);
    }
    this.typing.set(key, { from: notice.from, until: now + ttlMs });
    this.typingAt = Math.max(this.typingAt + 1, now);
    const encoded = new Notice('typing', JSON.stringify({ type: 'typing', ...notice }));
    for (const sub of this.subscribers) sub.deliverTyping?.(notice, encoded);
    this.held.forEach((sub) => sub.deliverTyping?.(notice, encoded));
  }

  /**
   * Sends an ephemeral presence notice to every live subscriber, encoded once, and wakes the held
   * polls: their answers carry its time (`presenceAt`), polling clients having no notices.
   */
  presenceNotice(notice: PresenceNotice): void {
    this.presenceNotices++;
    // A notice of an older node has no time: this node's clock then. Each notice moves it on,
    // one that carries an earlier time too (from a node whose clock is behind, or in the same
    // millisecond): otherwise a poll that knows the latest would not be told of this one.
    this.presenceAt = Math.max(this.presenceAt + 1, notice.at ?? Date.now());
    const encoded = new Notice('presence', JSON.stringify({ type: 'presence', ...notice }));
    for (const sub of this.subscribers) sub.deliverPresence?.(encoded);
    this.held.forEach((sub) => sub.deliverPresence?.(encoded));
  }

  /** Sends ephemeral read receipts to every live subscriber: each a `receipt` notice, all of them encoded once, in one write. */
  receiptNotice(receipts: readonly ReadReceipt[]): void {
    const encoded = new Notice('receipt', receipts.map((receipt) => JSON.stringify({ type: 'receipt', ...receipt })));
    for (const sub of this.subscribers) sub.deliverReceipt?.(encoded);
  }

  /** Who is typing now. */
  typingNow(now = Date.now()): Sender[] {
    const out: Sender[] = [];
    for (const [key, t] of this.typing) {
      if (t.until > now) out.push(t.from);
      else this.typing.delete(key);
    }
    return out;
  }

  private accept(entry: Entry): void {
    this.accepted = entry.seq;
    this.pending.push(entry);
    // A message ends its sender's typing: polls answered after it no longer name them (a live
    // client hides the notice when the message comes; a poller reads `typing` from each answer).
    if (entry.type === 'message' && this.typing.size > 0) this.typing.delete(entry.from.member ?? entry.from.name);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // While the process is behind, what comes within the pace's interval of the last delivery waits for one batch.
      const interval = this.pace === undefined ? 0 : this.pace.interval();
      const wait = interval === 0 ? 0 : this.flushedAt + interval - performance.now();
      if (wait > 0) {
        this.pace!.paced++;
        setTimeout(this.flushNow, wait);
      } else setImmediate(this.flushNow);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    this.flushedAt = performance.now();
    const batch = new Batch(this.name, this.epoch, this.pending);
    this.pending = [];
    for (const held of this.catchingUp.values()) held.push(batch);
    for (const sub of this.subscribers) this.deliverTo(sub, batch);
    this.held.forEach((sub) => this.deliverTo(sub, batch));
    this.onDelivered(batch, this.subscribers.byTransport);
    if (this.held.size > 0) this.onDelivered(batch, this.heldByTransport);
  }

  /** Removes every subscriber (a reset or deleted history ends them); returns them. */
  private dropAll(): Subscriber[] {
    const ended = [...this.subscribers, ...this.catchingUp.keys(), ...this.held.clear()];
    this.subscribers.clear();
    this.catchingUp.clear();
    this.heldByTransport.clear();
    return ended;
  }

  private deliverTo(sub: Subscriber, batch: Batch): void {
    const part = batch.after(sub.position);
    if (!part) return;
    sub.position = part.lastSeq;
    sub.deliver(part);
  }

  private scheduleGapFill(): void {
    if (this.gapTimer) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      void this.fillGap();
    }, this.gapDelay);
    this.gapTimer.unref();
  }

  private async fillGap(): Promise<void> {
    if (!this.gapOpen) return;
    // The first seq known past the gap: the lowest early entry, or the one after the expected head.
    const past = (): number => (this.early.size > 0 ? Math.min(...this.early.keys()) : this.expected + 1);
    const before = this.accepted;
    try {
      const missing = await this.log.readAfter(this.name, this.accepted, Math.max(1, past() - this.accepted - 1));
      for (const entry of missing) this.receive(this.epoch, entry);
      if (this.accepted === before && this.gapOpen) {
        // The next seq was not read: gone (retention trimmed it: skipped) or not readable yet (waited for).
        const state = await this.log.getRoom(this.name);
        // Deleted or reset: the hub ends the channel (and a broker entry of the new epoch restarts it).
        if (state === undefined || state.epoch !== this.epoch) return;
        // A head the store no longer has (a failover took back entries it had not confirmed) is not waited for.
        if (this.expected > state.lastSeq) this.expected = state.lastSeq;
        if (this.gapOpen && state.firstSeq > this.accepted + 1) {
          this.accepted = Math.min(state.firstSeq, past()) - 1;
          const next = this.early.get(this.accepted + 1);
          if (next) {
            this.early.delete(next.seq);
            this.receive(this.epoch, next);
          }
        }
      }
    } catch {
      // Store unreachable: try again later; held entries stay held.
    } finally {
      this.gapDelay = this.accepted > before ? GAP_FILL_DELAY_MS : Math.min(this.gapDelay * 2, GAP_FILL_MAX_DELAY_MS);
      if (this.gapOpen) this.scheduleGapFill();
    }
  }
}
