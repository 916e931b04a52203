import { randomBytes } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, MessageEntry } from '../../protocol/types.js';
import type { DisconnectOrder } from '../broker/broker.js';
import { DisconnectOrders } from '../broker/disconnect-orders.js';
import { amendmentEntry, applyReaction, checkTarget, erasedPreview, foldMessage, isAmendment, messageMatches, replyPreview, summarize, type Reactors } from './fold.js';
import { clientIdOf, clientScope, idempotencyKey, newEpoch, type AppendResult, type MessageStore, type ReadPosition, type Retention, type RoomPage, type RoomPageRequest, type RoomState, type SearchAnswer, type SearchRequest, MAX_READ_POSITIONS, SEARCH_SCAN_LIMIT, SEARCH_TEXT_LIMIT } from './message-store.js';

interface MemoryRoom {
  state: RoomState;
  /** entries[i].seq === state.firstSeq + i; messages folded (replaced, never changed in place). */
  entries: Entry[];
  /** By {@link idempotencyKey}: the seq of each entry of this room that has a clientId. */
  byClientId: Map<string, number>;
  /** Reactors of each message that has some. */
  reactors: Map<number, Reactors>;
  /** Message seq → seqs of the edits of it and the replies quoting it (what a delete erases). */
  refs: Map<number, number[]>;
  /** Read positions by member. */
  reads: Map<string, { name: string; seq: number }>;
}

function emptyRoom(name: string): MemoryRoom {
  return { state: { name, epoch: newEpoch(), lastSeq: 0, firstSeq: 1 }, entries: [], byClientId: new Map(), reactors: new Map(), refs: new Map(), reads: new Map() };
}

/**
 * The entry a draft becomes, in the shape every store returns (optional keys absent). `data` is
 * copied: a caller changing its object afterwards does not change the log.
 */
function toEntry(draft: EntryDraft, seq: number, ts: number): Entry {
  const base = { room: draft.room, seq, ts, from: draft.from };
  if (draft.type === 'join' || draft.type === 'leave') return { type: draft.type, ...base };
  if (draft.type !== 'message') throw new Error(`${draft.type} entries are made by amendmentEntry`);
  const entry: MessageEntry = { type: 'message', ...base, text: draft.text };
  if (draft.data !== undefined) entry.data = structuredClone(draft.data);
  if (draft.event !== undefined) entry.event = draft.event;
  if (draft.clientId !== undefined) entry.clientId = draft.clientId;
  if (draft.replyTo !== undefined) entry.replyTo = draft.replyTo;
  return entry;
}

/** The default store when durability is not wanted (`--store memory`): everything is lost on exit. */
export class MemoryStore implements MessageStore {
  readonly kind = 'memory';
  private readonly rooms = new Map<string, MemoryRoom>();
  /** Room names in ascending order, so a page of rooms is a binary search and a slice. */
  private readonly names: string[] = [];
  /** Lives as long as the data: this instance. */
  private readonly secret = randomBytes(32);
  private readonly disconnects = new DisconnectOrders();

  async init(): Promise<void> {}

  async getRoom(room: string): Promise<RoomState | undefined> {
    const r = this.rooms.get(room);
    return r ? { ...r.state } : undefined;
  }

  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    const existing = this.rooms.get(room);
    if (existing) return { state: { ...existing.state }, created: false };
    if (this.rooms.size >= maxRooms) throw new SwitchboardError('ROOM_LIMIT');
    const fresh = emptyRoom(room);
    this.rooms.set(room, fresh);
    this.names.splice(this.indexAfter(room), 0, room);
    return { state: { ...fresh.state }, created: true };
  }

  async countRooms(): Promise<number> {
    return this.rooms.size;
  }

  async listRooms(page: RoomPageRequest): Promise<RoomPage> {
    const limit = Math.max(1, Math.floor(page.limit));
    const start = page.after === undefined ? 0 : this.indexAfter(page.after);
    const names = this.names.slice(start, start + limit);
    const rooms = names.map((name) => ({ ...this.rooms.get(name)!.state }));
    return start + limit < this.names.length ? { rooms, next: names[names.length - 1]! } : { rooms };
  }

  async deleteRoom(room: string): Promise<boolean> {
    if (!this.rooms.delete(room)) return false;
    this.names.splice(this.indexAfter(room) - 1, 1);
    return true;
  }

  async resetRoom(room: string): Promise<RoomState> {
    this.mustGet(room);
    const fresh = emptyRoom(room);
    this.rooms.set(room, fresh);
    return { ...fresh.state };
  }

  async append(draft: EntryDraft): Promise<AppendResult> {
    const r = this.mustGet(draft.room);
    const clientId = clientIdOf(draft);
    const key = clientId !== undefined ? idempotencyKey(draft.from, clientId) : undefined;
    if (key !== undefined) {
      const seq = r.byClientId.get(key);
      const original = seq === undefined ? undefined : this.at(r, seq);
      if (original) return { entry: original, epoch: r.state.epoch, duplicate: true };
    }
    const seq = r.state.lastSeq + 1;
    const ts = Date.now();
    let entry: Entry;
    if (isAmendment(draft)) {
      // Checked before anything changes: a refused amendment leaves the room as it was.
      const target = checkTarget(this.at(r, draft.target), draft.target);
      let on = true;
      let reactors: Reactors | undefined;
      if (draft.type === 'reaction') {
        reactors = new Map([...(r.reactors.get(target.seq) ?? new Map<string, { member: string; name: string }[]>())].map(([k, v]) => [k, [...v]]));
        on = applyReaction(reactors, draft.emoji, clientScope(draft.from), draft.from.name, draft.on);
      }
      const amendment = amendmentEntry(draft, seq, ts, on);
      entry = amendment;
      if (reactors) {
        if (reactors.size > 0) r.reactors.set(target.seq, reactors);
        else r.reactors.delete(target.seq);
      }
      if (draft.type === 'delete') {
        r.reactors.delete(target.seq);
        this.erase(r, target.seq);
      } else if (draft.type === 'edit') this.addRef(r, target.seq, seq);
      this.replace(r, foldMessage(target, amendment, summarize(r.reactors.get(target.seq))));
    } else {
      const made = toEntry(draft, seq, ts);
      if (made.type === 'message' && made.replyTo !== undefined) {
        made.reply = replyPreview(checkTarget(this.at(r, made.replyTo), made.replyTo));
        this.addRef(r, made.replyTo, seq);
      }
      entry = made;
    }
    r.entries.push(entry);
    r.state.lastSeq = entry.seq;
    if (key !== undefined) r.byClientId.set(key, entry.seq);
    return { entry, epoch: r.state.epoch, duplicate: false };
  }

  async readMessage(room: string, seq: number): Promise<MessageEntry | undefined> {
    const e = this.at(this.mustGet(room), seq);
    return e?.type === 'message' ? e : undefined;
  }

  async setReadPosition(room: string, member: string, name: string, seq: number): Promise<{ seq: number; previous: number }> {
    const r = this.mustGet(room);
    const known = r.reads.get(member);
    const previous = known?.seq ?? 0;
    const next = Math.max(previous, Math.min(Math.max(0, Math.floor(seq)), r.state.lastSeq));
    if (known === undefined && next === 0) return { seq: 0, previous: 0 };
    r.reads.set(member, { name, seq: next });
    if (known === undefined && r.reads.size > MAX_READ_POSITIONS) {
      // Only a new member's position can pass the cap: one walk per such call, none per update.
      let lowest: string | undefined;
      let lowestSeq = Infinity;
      for (const [m, p] of r.reads) {
        if (p.seq < lowestSeq) [lowest, lowestSeq] = [m, p.seq];
      }
      r.reads.delete(lowest!);
    }
    return { seq: next, previous };
  }

  async getReadPosition(room: string, member: string): Promise<number> {
    return this.mustGet(room).reads.get(member)?.seq ?? 0;
  }

  async listReadPositions(room: string, limit: number): Promise<ReadPosition[]> {
    const r = this.mustGet(room);
    return [...r.reads].map(([member, p]) => ({ member, name: p.name, seq: p.seq })).sort((a, b) => b.seq - a.seq || (a.member < b.member ? -1 : 1)).slice(0, Math.max(0, limit));
  }

  /**
   * A scan of the retained log, newest first, as the Redis store's: at most SEARCH_SCAN_LIMIT
   * entries and SEARCH_TEXT_LIMIT characters of text (`complete: false` when older entries are
   * left), so that one query over a room of big messages does not hold the event loop for seconds.
   */
  async search(room: string, request: SearchRequest): Promise<SearchAnswer> {
    const r = this.mustGet(room);
    const results: MessageEntry[] = [];
    const end = request.before === undefined ? r.entries.length : Math.max(0, Math.min(r.entries.length, request.before - r.state.firstSeq));
    let chars = 0;
    for (let i = end - 1; i >= 0; i--) {
      if (end - 1 - i >= SEARCH_SCAN_LIMIT || chars >= SEARCH_TEXT_LIMIT) return { results, more: false, complete: false, scanned: chars };
      const e = r.entries[i]!;
      if (e.type === 'message') chars += e.text.length;
      if (!messageMatches(e, request.words)) continue;
      if (results.length === request.limit) return { results, more: true, complete: true, scanned: chars };
      results.push(e);
    }
    return { results, more: false, complete: true, scanned: chars };
  }

  private at(r: MemoryRoom, seq: number): Entry | undefined {
    return seq >= r.state.firstSeq ? r.entries[seq - r.state.firstSeq] : undefined;
  }

  private replace(r: MemoryRoom, entry: Entry): void {
    r.entries[entry.seq - r.state.firstSeq] = entry;
  }

  private addRef(r: MemoryRoom, target: number, seq: number): void {
    const refs = r.refs.get(target);
    if (refs) refs.push(seq);
    else r.refs.set(target, [seq]);
  }

  /** Blanks the text of the edits of message `seq` and the previews of the replies quoting it. */
  private erase(r: MemoryRoom, seq: number): void {
    for (const ref of r.refs.get(seq) ?? []) {
      const e = this.at(r, ref);
      if (e?.type === 'edit') this.replace(r, { ...e, text: '' });
      else if (e?.type === 'message' && e.reply && e.reply.seq === seq) this.replace(r, { ...e, reply: erasedPreview(e.reply) });
    }
    r.refs.delete(seq);
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    const r = this.mustGet(room);
    const start = Math.max(0, after + 1 - r.state.firstSeq);
    return r.entries.slice(start, start + limit);
  }

  readAfterNow(room: string, after: number, limit: number): Entry[] | undefined {
    const r = this.rooms.get(room);
    if (!r || after < r.state.firstSeq - 1 || after > r.state.lastSeq) return undefined;
    const start = after + 1 - r.state.firstSeq;
    return r.entries.slice(start, start + limit);
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    const r = this.mustGet(room);
    const end = before === undefined ? r.entries.length : Math.max(0, Math.min(r.entries.length, before - r.state.firstSeq));
    return r.entries.slice(Math.max(0, end - limit), end);
  }

  async trim(retention: Retention, now: number): Promise<number> {
    let removed = 0;
    for (const r of this.rooms.values()) {
      let drop = Math.max(0, r.entries.length - retention.maxEntries);
      while (drop < r.entries.length && now - r.entries[drop]!.ts > retention.maxAgeMs) drop++;
      if (drop === 0) continue;
      for (const e of r.entries.slice(0, drop)) {
        const clientId = clientIdOf(e);
        if (clientId !== undefined) r.byClientId.delete(idempotencyKey(e.from, clientId));
        r.reactors.delete(e.seq);
        r.refs.delete(e.seq);
      }
      r.entries.splice(0, drop);
      r.state.firstSeq += drop;
      removed += drop;
    }
    return removed;
  }

  async nodeSecret(): Promise<Buffer> {
    return Buffer.from(this.secret);
  }

  async keepDisconnect(order: DisconnectOrder): Promise<void> {
    this.disconnects.remember(order.member, order.room, order.at);
  }

  async recentDisconnects(since: number): Promise<DisconnectOrder[]> {
    return this.disconnects.entries().filter((order) => order.at >= since).sort((x, y) => x.at - y.at);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  /** Index of the first name above `name` in `names` (binary search). */
  private indexAfter(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names[mid]! <= name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private mustGet(room: string): MemoryRoom {
    const r = this.rooms.get(room);
    if (!r) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return r;
  }
}
