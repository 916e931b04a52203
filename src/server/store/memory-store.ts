import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, MessageEntry } from '../../protocol/types.js';
import { idempotencyKey, newEpoch, type AppendResult, type MessageStore, type Retention, type RoomPage, type RoomPageRequest, type RoomState } from './message-store.js';

interface MemoryRoom {
  state: RoomState;
  /** entries[i].seq === state.firstSeq + i */
  entries: Entry[];
  /** By {@link idempotencyKey}: the entries of this room that have a clientId. */
  byClientId: Map<string, Entry>;
}

function emptyRoom(name: string): MemoryRoom {
  return { state: { name, epoch: newEpoch(), lastSeq: 0, firstSeq: 1 }, entries: [], byClientId: new Map() };
}

/**
 * The entry a draft becomes, in the shape every store returns (optional keys absent). `data` is
 * copied: a caller changing its object afterwards does not change the log.
 */
function toEntry(draft: EntryDraft, seq: number, ts: number): Entry {
  const base = { room: draft.room, seq, ts, from: draft.from };
  if (draft.type === 'join' || draft.type === 'leave') return { type: draft.type, ...base };
  if (draft.type !== 'message') throw new Error(`${draft.type} entries are not stored yet`);
  const entry: MessageEntry = { type: 'message', ...base, text: draft.text };
  if (draft.data !== undefined) entry.data = structuredClone(draft.data);
  if (draft.event !== undefined) entry.event = draft.event;
  if (draft.clientId !== undefined) entry.clientId = draft.clientId;
  return entry;
}

/** The default store when durability is not wanted (`--store memory`): everything is lost on exit. */
export class MemoryStore implements MessageStore {
  readonly kind = 'memory';
  private readonly rooms = new Map<string, MemoryRoom>();
  /** Room names in ascending order, so a page of rooms is a binary search and a slice. */
  private readonly names: string[] = [];

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
    const key = draft.type === 'message' && draft.clientId !== undefined ? idempotencyKey(draft.from, draft.clientId) : undefined;
    if (key !== undefined) {
      const original = r.byClientId.get(key);
      if (original) return { entry: original, epoch: r.state.epoch, duplicate: true };
    }
    const entry = toEntry(draft, r.state.lastSeq + 1, Date.now());
    r.entries.push(entry);
    r.state.lastSeq = entry.seq;
    if (key !== undefined) r.byClientId.set(key, entry);
    return { entry, epoch: r.state.epoch, duplicate: false };
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    const r = this.mustGet(room);
    const start = Math.max(0, after + 1 - r.state.firstSeq);
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
      for (const e of r.entries.slice(0, drop)) if (e.type === 'message' && e.clientId !== undefined) r.byClientId.delete(idempotencyKey(e.from, e.clientId));
      r.entries.splice(0, drop);
      r.state.firstSeq += drop;
      removed += drop;
    }
    return removed;
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
