import { randomBytes } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, MessageEntry, PresenceEntry } from '../../protocol/types.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from '../redis-connection.js';
import { idempotencyKey, newEpoch, type AppendResult, type MessageStore, type Retention, type RoomPage, type RoomPageRequest, type RoomState, type ReadPosition, type SearchAnswer, type SearchRequest } from './message-store.js';
import { APPEND_LUA, CREATE_ROOM_LUA, DELETE_ROOM_LUA, RANGE_LUA, RENEW_ROOM_LUA, RESERVE_ROOM_LUA, RESET_ROOM_LUA, TRIM_LUA, UNREGISTER_ROOM_LUA } from './redis-scripts.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** `redis://host:port/db`, or `redis-cluster://host:port,host:port` for a Redis Cluster. */
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
  sbReserveRoom(names: string, registry: string, name: string, token: string, maxRooms: string): Promise<[status: 1 | 0 | -1, token: string]>;
  sbRenewRoom(names: string, registry: string, name: string, stale: string, fresh: string): Promise<string | null>;
  sbUnregisterRoom(names: string, registry: string, name: string, token: string): Promise<1>;
  sbCreateRoom(meta: string, log: string, cids: string, tombstone: string, token: string, epoch: string): Promise<[created: 1 | 0 | -2, epoch: string, lastSeq: string, firstSeq: string]>;
  sbDeleteRoom(meta: string, log: string, cids: string, tombstone: string): Promise<[existed: 1 | 0, token?: string]>;
  sbResetRoom(meta: string, log: string, cids: string, epoch: string): Promise<string | null>;
  sbAppend(meta: string, log: string, cids: string, draft: string, key: string): Promise<[status: 'OK' | 'DUP' | 'NOROOM', epoch: string, seq: string, ts: string, draft?: string]>;
  sbRange(meta: string, log: string, direction: 'after' | 'before', from: string, to: string, count: number): Promise<StreamEntry[] | null>;
  sbTrim(meta: string, log: string, cids: string, maxEntries: number, cutoff: number, batch: number): Promise<[removed: number, more: number]>;
}

/** A registration token: tells one registration of a room name from another (see createRoom). */
function newToken(): string {
  return randomBytes(9).toString('base64url');
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
 * Key layout (P = prefix, R = room name; room names hold no ':' and no braces). Every key of a
 * room carries the hash tag `{R}`, and the registry's keys the tag `{rooms}`: in a Redis Cluster
 * each room lives in one slot, and every script touches one slot only.
 * - `P{rooms}:names` ZSET of room names, all with score 0: ZCARD counts them in O(1), and
 *   ZRANGEBYLEX pages through them by name;
 * - `P{rooms}:reg` HASH room name → registration token (which registration of the name this is);
 * - `P room:{R}` HASH epoch, lastSeq (the seq counter), firstSeq, createdAt, reg (its token);
 * - `P log:{R}` STREAM of entries with explicit IDs `<seq>-0`, fields d = the draft as JSON
 *   (type, from, text, data, event, clientId), t = ts, c = the idempotency key (when a clientId is given). A stream rather than a sorted
 *   set: its IDs are the seqs, so XRANGE reads a seq range directly and XTRIM MINID drops the
 *   oldest entries in one command; it stores immutable entries compactly; and XADD refuses an ID
 *   not above the last one, a last line of defence against seq reuse.
 * - `P cid:{R}` HASH idempotency key → seq, the idempotency index; the key is the sender's scope
 *   and the clientId as one string (idempotencyKey()); trim removes the keys of the entries it drops.
 * - `P gone:{R}` STRING, for a day after a deletion: the registration token of the deleted history.
 *
 * Appends, reads, resets and trims touch one room's slot: one script each, atomic per room.
 * Creating and deleting a room also touch the registry, another slot, so each is two scripts,
 * and stays atomic for what the contract asks:
 * - the cap: the registry step (RESERVE) counts and registers the name in one script, so N
 *   concurrent creations of distinct rooms register exactly maxRooms names; the room step that
 *   follows (CREATE) makes the state of a reserved name. A room exists, for appends and reads,
 *   from its CREATE on and until its DELETE: each one script in the room's slot, so a concurrent
 *   append sees the room wholly before or wholly after either.
 * - a deletion (DELETE, then UNREGISTER of that history's token) racing a creation of the same
 *   name (RESERVE, CREATE): UNREGISTER removes only the registration of the deleted history. A
 *   creation that found that old registration is refused by CREATE (the tombstone `gone:{R}`
 *   names it), replaces it with a fresh token (RENEW; the name stays counted) or reserves the name
 *   again when it was already unregistered, and retries; the new room then keeps its registration.
 * - a node that dies between the two steps leaves a registered name without state (counted, not
 *   listed); the next creation of that name completes it.
 * Keys of the layout before Redis Cluster support (`P rooms`, `P room:R`, ...) are not read.
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
  private readonly redis: RedisClient;
  private readonly scripts: Scripts;
  private readonly prefix: string;
  private readonly trimBatchSize: number;
  private readonly connectTimeoutMs: number;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix;
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.redis = createRedisClient(options.url, { connectionName: 'switchboard-store', ...options });
    this.redis.defineCommand('sbReserveRoom', { numberOfKeys: 2, lua: RESERVE_ROOM_LUA });
    this.redis.defineCommand('sbRenewRoom', { numberOfKeys: 2, lua: RENEW_ROOM_LUA });
    this.redis.defineCommand('sbUnregisterRoom', { numberOfKeys: 2, lua: UNREGISTER_ROOM_LUA });
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

  /**
   * Two steps, each one script in one slot (so it works in a Redis Cluster): reserve the name
   * under the cap in the registry (`{rooms}`: the cap's atomic check-and-count), then make the
   * room's state in its own slot. See the class comment for why this stays atomic.
   */
  async createRoom(room: string, maxRooms = Infinity): Promise<{ state: RoomState; created: boolean }> {
    return this.guard(async () => {
      const existing = await this.getRoom(room);
      if (existing) return { state: existing, created: false };
      const max = Number.isFinite(maxRooms) ? String(maxRooms) : '';
      let token: string | null = null;
      // Each round either settles or replaces a registration left by a deletion running at the same time.
      for (let round = 0; round < 8; round++) {
        if (token === null) {
          const [status, registered] = await this.scripts.sbReserveRoom(this.namesKey(), this.registryKey(), room, newToken(), max);
          if (status === -1) throw new SwitchboardError('ROOM_LIMIT');
          token = registered;
        }
        const [created, epoch, lastSeq, firstSeq] = await this.scripts.sbCreateRoom(this.key('room', room), this.key('log', room), this.key('cid', room), this.key('gone', room), token, newEpoch());
        if (created !== -2) return { state: { name: room, epoch, lastSeq: Number(lastSeq), firstSeq: Number(firstSeq) }, created: created === 1 };
        token = await this.scripts.sbRenewRoom(this.namesKey(), this.registryKey(), room, token, newToken());
      }
      throw new SwitchboardError('STORE_UNAVAILABLE', `creating room ${room} raced with its deletion too many times`);
    });
  }

  /** ZCARD of the registry: O(1). Counts a creation from its first step on. */
  async countRooms(): Promise<number> {
    return this.guard(() => this.redis.zcard(this.namesKey()));
  }

  /** Two steps: the room's state goes (the linearisation point), then its registration. */
  async deleteRoom(room: string): Promise<boolean> {
    return this.guard(async () => {
      const [existed, token] = await this.scripts.sbDeleteRoom(this.key('room', room), this.key('log', room), this.key('cid', room), this.key('gone', room));
      if (existed !== 1) return false;
      await this.scripts.sbUnregisterRoom(this.namesKey(), this.registryKey(), room, token ?? '');
      return true;
    });
  }

  async resetRoom(room: string): Promise<RoomState> {
    const epoch = await this.guard(() => this.scripts.sbResetRoom(this.key('room', room), this.key('log', room), this.key('cid', room), newEpoch()));
    if (epoch === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return { name: room, epoch, lastSeq: 0, firstSeq: 1 };
  }

  /** ZRANGEBYLEX on the registry, then one HMGET per listed room (pipelined per master). */
  async listRooms(page: RoomPageRequest): Promise<RoomPage> {
    const limit = Math.max(1, Math.floor(page.limit));
    return this.guard(async () => {
      const names = await this.redis.zrangebylex(this.namesKey(), page.after === undefined ? '-' : `(${page.after}`, '+', 'LIMIT', 0, limit);
      const states = await Promise.all(names.map((name) => this.getRoom(name)));
      // A name whose state is missing is being created or deleted right now: not listed yet, or any more.
      const rooms = states.filter((s): s is RoomState => s !== undefined);
      return names.length === limit ? { rooms, next: names[names.length - 1]! } : { rooms };
    });
  }

  async append(draft: EntryDraft): Promise<AppendResult> {
    return this.guard(async () => {
      const stored: StoredDraft | undefined =
        draft.type === 'message'
          ? { type: draft.type, from: draft.from, text: draft.text, data: draft.data, event: draft.event, clientId: draft.clientId }
          : draft.type === 'join' || draft.type === 'leave'
            ? { type: draft.type, from: draft.from }
            : undefined;
      if (stored === undefined) throw new Error(`${draft.type} entries are not stored yet`);
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

  async readMessage(_room: string, _seq: number): Promise<MessageEntry | undefined> {
    throw new SwitchboardError('STORE_UNAVAILABLE', 'not yet kept by the Redis store');
  }

  async setReadPosition(_room: string, _member: string, _name: string, _seq: number): Promise<{ seq: number; previous: number }> {
    throw new SwitchboardError('STORE_UNAVAILABLE', 'not yet kept by the Redis store');
  }

  async getReadPosition(_room: string, _member: string): Promise<number> {
    throw new SwitchboardError('STORE_UNAVAILABLE', 'not yet kept by the Redis store');
  }

  async listReadPositions(_room: string, _limit: number): Promise<ReadPosition[]> {
    throw new SwitchboardError('STORE_UNAVAILABLE', 'not yet kept by the Redis store');
  }

  async search(_room: string, _request: SearchRequest): Promise<SearchAnswer> {
    throw new SwitchboardError('STORE_UNAVAILABLE', 'not yet kept by the Redis store');
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

  /** Room names, read from the registry a page at a time so a large one is never sent in one reply. */
  private async roomNames(): Promise<string[]> {
    const names: string[] = [];
    for (let after = '-'; ; ) {
      const page = await this.guard(() => this.redis.zrangebylex(this.namesKey(), after, '+', 'LIMIT', 0, 500));
      names.push(...page);
      if (page.length < 500) return names;
      after = `(${page[page.length - 1]!}`;
    }
  }

  /** A key of one room: the hash tag `{room}` puts every key of the room in one slot. */
  private key(kind: 'room' | 'log' | 'cid' | 'gone', room: string): string {
    return `${this.prefix}${kind}:{${room}}`;
  }

  /** The registry's names (ZSET, lexicographic index and count), in slot `{rooms}`. */
  private namesKey(): string {
    return `${this.prefix}{rooms}:names`;
  }

  /** The registry's tokens (HASH name → registration token), in slot `{rooms}`. */
  private registryKey(): string {
    return `${this.prefix}{rooms}:reg`;
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
