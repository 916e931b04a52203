import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft } from '../../protocol/types.js';
import { newEpoch, type AppendResult, type MessageStore, type Retention, type RoomState } from './message-store.js';

interface MemoryRoom {
  state: RoomState;
  /** entries[i].seq === state.firstSeq + i */
  entries: Entry[];
  byClientId: Map<string, Entry>;
}

/** The default store when durability is not wanted (`--store memory`): everything is lost on exit. */
export class MemoryStore implements MessageStore {
  readonly kind = 'memory';
  private readonly rooms = new Map<string, MemoryRoom>();

  async init(): Promise<void> {}

  async getRoom(room: string): Promise<RoomState | undefined> {
    const r = this.rooms.get(room);
    return r ? { ...r.state } : undefined;
  }

  async createRoom(room: string): Promise<{ state: RoomState; created: boolean }> {
    const existing = this.rooms.get(room);
    if (existing) return { state: { ...existing.state }, created: false };
    const state: RoomState = { name: room, epoch: newEpoch(), lastSeq: 0, firstSeq: 1 };
    this.rooms.set(room, { state, entries: [], byClientId: new Map() });
    return { state: { ...state }, created: true };
  }

  async listRooms(): Promise<RoomState[]> {
    return [...this.rooms.values()].map((r) => ({ ...r.state }));
  }

  async append(draft: EntryDraft): Promise<AppendResult> {
    const r = this.mustGet(draft.room);
    if (draft.clientId !== undefined) {
      const original = r.byClientId.get(draft.clientId);
      if (original) return { entry: original, epoch: r.state.epoch, duplicate: true };
    }
    const entry: Entry = { type: draft.type, room: draft.room, seq: r.state.lastSeq + 1, ts: Date.now(), from: draft.from };
    if (draft.text !== undefined) entry.text = draft.text;
    if (draft.clientId !== undefined) entry.clientId = draft.clientId;
    r.entries.push(entry);
    r.state.lastSeq = entry.seq;
    if (entry.clientId !== undefined) r.byClientId.set(entry.clientId, entry);
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
      for (const e of r.entries.slice(0, drop)) if (e.clientId !== undefined) r.byClientId.delete(e.clientId);
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

  private mustGet(room: string): MemoryRoom {
    const r = this.rooms.get(room);
    if (!r) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return r;
  }
}
