import type { Redis } from 'ioredis';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, MessageEntry, PresenceEntry } from '../../protocol/types.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisConnectionOptions } from '../redis-connection.js';
import { idempotencyKey, newEpoch, type AppendResult, type MessageStore, type Retention, type RoomState } from './message-store.js';
import { APPEND_LUA, CREATE_ROOM_LUA, DELETE_ROOM_LUA, RANGE_LUA, RESET_ROOM_LUA, TRIM_LUA } from './redis-scripts.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Every key starts with it (e.g. `sb:`), so several deployments or test runs can share a server. */
  prefix: string;
  /** Most entries one trim script removes before the next round trip. Default 2000. */
  trimBatchSize?: number;
}

/**
 * The part of a stored entry that the append script does not assign, as stored in field d.
 * Presence entries have only type and from; messages their text, data, event and clientId
 * (absent keys are left out of the JSON).
 */
type StoredDraft = Pick<PresenceEntry, 'type' | 'from'> | Pick<MessageEntry, 'type' | 'from' | 'text' | 'data' | 'event' | 'clientId'>;

/** A stream entry as ioredis returns it: [id, [field, value, ...]], fields d (draft JSON), t (ts), c (idempotency key). */
type StreamEntry = [id: string, fields: string[]];

interface Scripts {
  sbCreateRoom(meta: string, rooms: string, log: string, cids: string, name: string, epoch: string, maxRooms: string): Promise<[created: 1 | 0 | -1, epoch: string, lastSeq: string, firstSeq: string]>;
  sbDeleteRoom(meta: string, rooms: string, log: string, cids: string, name: string): Promise<1 | 0>;
  sbResetRoom(meta: string, log: string, cids: string, epoch: string): Promise<string | null>;
  sbAppend(meta: string, log: string, cids: string, draft: string, key: string): Promise<[status: 'OK' | 'DUP' | 'NOROOM', epoch: string, seq: string, ts: string, draft?: string]>;
  sbRange(meta: string, log: string, direction: 'after' | 'before', from: string, to: string, count: number): Promise<StreamEntry[] | null>;
  sbTrim(meta: string, log: string, cids: string, maxEntries: number, cutoff: number, batch: number): Promise<[removed: number, more: number]>;
}

function toEntry(room: string, seq: number, ts: number, draftJson: string): Entry {
  const d = JSON.parse(draftJson) as StoredDraft;
  const base = { room, seq, ts, from: d.from };
  if (d.type !== 'message') return { type: d.type, ...base };
  const entry: MessageEntry = { type: 'message', ...base, text: d.text ?? '' };
  if (d.data !== undefined) entry.data = d.data;
  if (d.event !== undefined) entry.event = d.event;
  if (d.clientId !== undefined) entry.clientId = d.clientId;
  return entry;
}

function fromStream(room: string, [id, fields]: StreamEntry): Entry {
  return toEntry(room, parseInt(id, 10), Number(fields[3]), fields[1]!);
}

/**
 * The shared store (`--store redis`): several server nodes append to and read the same logs.
 *
 * Key layout (P = prefix, R = room name; room names have no ':'):
 * - `P rooms` SET of room names;
 * - `P room:R` HASH epoch, lastSeq (the seq counter), firstSeq, createdAt;
 * - `P log:R` STREAM of entries with explicit IDs `<seq>-0`, fields d = the draft as JSON
 *   (type, from, text, data, event, clientId), t = ts, c = the idempotency key (when a clientId is given). A stream rather than a sorted
 *   set: its IDs are the seqs, so XRANGE reads a seq range directly and XTRIM MINID drops the
 *   oldest entries in one command; it stores immutable entries compactly; and XADD refuses an ID
 *   not above the last one, a last line of defence against seq reuse.
 * - `P cid:R` HASH idempotency key → seq, the idempotency index; the key is the sender's scope
 *   and the clientId as one string (idempotencyKey()); trim removes the keys of the entries it drops.
 *   (Entries stored before keys were per sender have the bare clientId in c and as the field: they
 *   no longer match a retry, and trim still removes them.)
 *
 * Every write is one Lua script (EVALSHA), hence atomic per room across all nodes. The append
 * script takes `ts` from Redis TIME, not from the node: one clock for every node, so ts never
 * runs backwards between nodes whose clocks disagree and age-based retention sees one timeline.
 *
 * While Redis is down every method rejects within `commandTimeoutMs` (at once when the socket
 * is known to be closed) with STORE_UNAVAILABLE; the client reconnects in the background.
 * If the connection drops after Redis ran an append but before its reply arrived, the caller
 * sees STORE_UNAVAILABLE although the entry is stored. A retry with the same clientId then
 * returns that entry with `duplicate: true`: that is the intended recovery, and the reason
 * publishers should always send a clientId.
 */
export class RedisStore implements MessageStore {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly scripts: Scripts;
  private readonly prefix: string;
  private readonly trimBatchSize: number;
  private readonly connectTimeoutMs: number;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix;
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.redis = createRedisClient(options.url, { connectionName: 'switchboard-store', ...options });
    this.redis.defineCommand('sbCreateRoom', { numberOfKeys: 4, lua: CREATE_ROOM_LUA });
    this.redis.defineCommand('sbDeleteRoom', { numberOfKeys: 4, lua: DELETE_ROOM_LUA });
    this.redis.defineCommand('sbResetRoom', { numberOfKeys: 3, lua: RESET_ROOM_LUA });
    this.redis.defineCommand('sbAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    this.redis.defineCommand('sbRange', { numberOfKeys: 2, lua: RANGE_LUA, readOnly: true });
    this.redis.defineCommand('sbTrim', { numberOfKeys: 3, lua: TRIM_LUA });
    this.scripts = this.redis as unknown as Scripts;
  }

  /**
   * Connects; rejects with STORE_UNAVAILABLE when Redis is not ready within `connectTimeoutMs`,
   * leaving nothing running (init may be called again).
   */
  async init(): Promise<void> {
    await waitUntilReady(this.redis, this.connectTimeoutMs);
  }

  async getRoom(room: string): Promise<RoomState | undefined> {
    return this.guard(async () => {
      const [epoch, lastSeq, firstSeq] = await this.redis.hmget(this.key('room', room), 'epoch', 'lastSeq', 'firstSeq');
      return epoch ? { name: room, epoch, lastSeq: Number(lastSeq), firstSeq: Number(firstSeq) } : undefined;
    });
  }

  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    return this.guard(async () => {
      const [created, epoch, lastSeq, firstSeq] = await this.scripts.sbCreateRoom(
        this.key('room', room), this.roomsKey(), this.key('log', room), this.key('cid', room), room, newEpoch(),
        Number.isFinite(maxRooms) ? String(maxRooms) : '',
      );
      if (created === -1) throw new SwitchboardError('ROOM_LIMIT');
      return { state: { name: room, epoch, lastSeq: Number(lastSeq), firstSeq: Number(firstSeq) }, created: created === 1 };
    });
  }

  async countRooms(): Promise<number> {
    return this.guard(() => this.redis.scard(this.roomsKey()));
  }

  async deleteRoom(room: string): Promise<boolean> {
    return this.guard(async () => {
      const existed = await this.scripts.sbDeleteRoom(this.key('room', room), this.roomsKey(), this.key('log', room), this.key('cid', room), room);
      return existed === 1;
    });
  }

  async resetRoom(room: string): Promise<RoomState> {
    const epoch = await this.guard(() => this.scripts.sbResetRoom(this.key('room', room), this.key('log', room), this.key('cid', room), newEpoch()));
    if (epoch === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return { name: room, epoch, lastSeq: 0, firstSeq: 1 };
  }

  async listRooms(): Promise<RoomState[]> {
    return this.guard(async () => {
      const names = (await this.redis.smembers(this.roomsKey())).sort();
      const states = await Promise.all(names.map((name) => this.getRoom(name)));
      return states.filter((s): s is RoomState => s !== undefined);
    });
  }

  async append(draft: EntryDraft): Promise<AppendResult> {
    return this.guard(async () => {
      const stored: StoredDraft =
        draft.type === 'message'
          ? { type: draft.type, from: draft.from, text: draft.text, data: draft.data, event: draft.event, clientId: draft.clientId }
          : { type: draft.type, from: draft.from };
      const json = JSON.stringify(stored);
      const clientId = draft.type === 'message' ? draft.clientId : undefined;
      const key = clientId === undefined ? '' : idempotencyKey(draft.from, clientId);
      const [status, epoch, seq, ts, original] = await this.scripts.sbAppend(
        this.key('room', draft.room), this.key('log', draft.room), this.key('cid', draft.room), json, key,
      );
      if (status === 'NOROOM') throw new SwitchboardError('ROOM_NOT_FOUND', draft.room);
      const duplicate = status === 'DUP';
      // Parsed back from the stored JSON, so the ack and later reads have exactly the same shape.
      return { entry: toEntry(draft.room, Number(seq), Number(ts), duplicate ? original! : json), epoch, duplicate };
    });
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    const from = String(Math.max(0, Math.floor(after)) + 1);
    return this.range(room, 'after', from, '+', limit);
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    if (before !== undefined && before <= 1) {
      // Nothing can be below seq 1, but an unknown room must still be reported.
      await this.range(room, 'before', '+', '-', 0);
      return [];
    }
    const to = before === undefined ? '+' : String(Math.ceil(before) - 1);
    return (await this.range(room, 'before', to, '-', limit)).reverse();
  }

  async trim(retention: Retention, now: number): Promise<number> {
    const maxEntries = Number.isFinite(retention.maxEntries) ? Math.max(0, Math.floor(retention.maxEntries)) : Number.MAX_SAFE_INTEGER;
    const cutoff = Number.isFinite(retention.maxAgeMs) ? now - retention.maxAgeMs : -1;
    let removed = 0;
    for (const room of await this.roomNames()) {
      for (;;) {
        const [n, more] = await this.guard(() =>
          this.scripts.sbTrim(this.key('room', room), this.key('log', room), this.key('cid', room), maxEntries, cutoff, this.trimBatchSize),
        );
        removed += n;
        // Batches keep each script short, so Redis (single-threaded) serves appends in between.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!more) break;
      }
    }
    return removed;
  }

  /** False, never a rejection, when Redis does not answer. */
  async ping(): Promise<boolean> {
    try {
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Quits and stops reconnecting. */
  async close(): Promise<void> {
    await closeRedisClient(this.redis);
  }

  private async range(room: string, direction: 'after' | 'before', from: string, to: string, limit: number): Promise<Entry[]> {
    const found = await this.guard(() =>
      this.scripts.sbRange(this.key('room', room), this.key('log', room), direction, from, to, Math.max(0, Math.floor(limit))),
    );
    if (found === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return found.map((e) => fromStream(room, e));
  }

  /** Room names, read with SSCAN so a large set is never sent in one reply. */
  private async roomNames(): Promise<string[]> {
    const names = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.guard(() => this.redis.sscan(this.roomsKey(), cursor, 'COUNT', 200));
      for (const name of batch) names.add(name);
      cursor = next;
    } while (cursor !== '0');
    return [...names];
  }

  private key(kind: 'room' | 'log' | 'cid', room: string): string {
    return `${this.prefix}${kind}:${room}`;
  }

  private roomsKey(): string {
    return `${this.prefix}rooms`;
  }

  /** Runs `fn`, turning any failure that is not already a SwitchboardError into STORE_UNAVAILABLE. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      throw new SwitchboardError('STORE_UNAVAILABLE', err instanceof Error ? err.message : String(err));
    }
  }
}
