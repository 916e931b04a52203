import { randomBytes } from 'node:crypto';
import { SwitchboardError } from '../../protocol/errors.js';
import type { Entry, EntryDraft, MessageEntry, PresenceEntry, ReactionSummary, ReplyPreview } from '../../protocol/types.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from '../redis-connection.js';
import type { Logger } from '../logger.js';
import { clientIdOf, clientScope, idempotencyKey, newEpoch, type AppendResult, type MessageStore, type Retention, type RoomPage, type RoomPageRequest, type RoomState, type ReadPosition, type SearchAnswer, type SearchRequest, MAX_READ_POSITIONS, SEARCH_SCAN_LIMIT, SEARCH_TEXT_LIMIT } from './message-store.js';
import { AMEND_LUA, APPEND_LUA, CONFIRM_LUA, CREATE_ROOM_LUA, DELETE_ROOM_LUA, RANGE_LUA, RENEW_ROOM_LUA, RESERVE_ROOM_LUA, RESET_ROOM_LUA, SET_READ_LUA, TRIM_LUA, UNREGISTER_ROOM_LUA } from './redis-scripts.js';
import { Replication, probeKey, type WriteMark } from './replication-barrier.js';
import type { DisconnectOrder } from '../broker/broker.js';
import { keepDisconnectIn, readDisconnectsIn } from '../broker/redis-disconnects.js';
import { MAX_REACTION_EMOJI, MAX_REACTORS_LISTED, isAmendment, messageMatches } from './fold.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** `redis://host:port/db`, `redis-cluster://host:port,host:port` for a Redis Cluster, or `redis-sentinel://host:port,host:port/master` through Redis Sentinel. */
  url: string;
  /** Every key starts with it (e.g. `sb:`), so several deployments or test runs can share a server. */
  prefix: string;
  /** Most entries one trim script removes before the next round trip. Default 2000. */
  trimBatchSize?: number;
  /**
   * Replicas that must have a write before it is acknowledged (Redis `WAIT`; default 0: the
   * master's word). Redis replicates asynchronously: a failover promotes a replica that may lack
   * the master's last writes, so with 0 an append acknowledged just before one can be lost, and
   * its seq later given to another entry. With 1 (a master and a replica, under Sentinel) what was
   * acknowledged, or read, is on the replica a failover promotes (reads stop at entries not yet
   * confirmed: see range()). In a Redis Cluster, on that many replicas of the master of the
   * room's slot (each master has its own: Replication).
   */
  replicas?: number;
  /** How long a write waits for `replicas`, ms (default 1000); past it the write is refused with STORE_UNAVAILABLE. */
  replicaTimeoutMs?: number;
  /** With `replicas`: how often the masters' replicas are counted again (a replica added later), ms. Default 60,000. */
  replicaCheckMs?: number;
}

/**
 * The part of a stored entry that the scripts do not assign, as stored in field d. Presence
 * entries have only type and from; messages their text, data, event, clientId and replyTo;
 * amendments their target and clientId, an edit its text, a reaction its emoji and resolved on
 * (absent keys are left out of the JSON). An erased entry (in `over`) also has its ts and c.
 */
type StoredDraft = (
  | Pick<PresenceEntry, 'type' | 'from'>
  | Pick<MessageEntry, 'type' | 'from' | 'text' | 'data' | 'event' | 'clientId' | 'replyTo'>
  | StoredAmendment
) & { ts?: number; c?: string };

interface StoredAmendment {
  type: 'edit' | 'delete' | 'reaction';
  from: MessageEntry['from'];
  target: number;
  clientId?: string;
  text?: string;
  emoji?: string;
  on?: boolean;
}

/** What the scripts fold into a message (field of `fold`): every reactor, [member, name], not only the first 50. */
interface StoredFold {
  text?: string;
  edited?: { seq: number; ts: number };
  deleted?: true;
  reactions?: Array<{ emoji: string; by: Array<[string, string]> }>;
  folded?: number;
}

/** A stream entry as ioredis returns it: [id, [field, value, ...]], fields d (draft JSON), t (ts), c (idempotency key). */
type StreamEntry = [id: string, fields: string[]];

type RangeReply = [from: number, to: number, entries: StreamEntry[], overs: (string | null)[], folds: (string | null)[], rps: (string | null)[], conf: number, epoch: string];

interface Scripts {
  sbReserveRoom(names: string, registry: string, name: string, token: string, maxRooms: string): Promise<[status: 1 | 0 | -1, token: string]>;
  sbRenewRoom(names: string, registry: string, name: string, stale: string, fresh: string): Promise<string | null>;
  sbUnregisterRoom(names: string, registry: string, name: string, token: string): Promise<1>;
  sbCreateRoom(...args: string[]): Promise<[created: 1 | 0 | -2, epoch: string, lastSeq: string, firstSeq: string]>;
  sbDeleteRoom(...args: string[]): Promise<[existed: 1 | 0, token?: string]>;
  sbResetRoom(...args: string[]): Promise<string | null>;
  sbAppend(...args: string[]): Promise<[status: 'OK' | 'DUP' | 'NOROOM' | 'NOTFOUND' | 'DELETED', epoch: string, seq: string, ts: string]>;
  sbAmend(...args: string[]): Promise<[status: 'OK' | 'DUP' | 'NOROOM' | 'NOTFOUND' | 'DELETED' | 'LIMIT', epoch: string, seq: string, ts: string, on: string]>;
  sbRange(...args: (string | number)[]): Promise<RangeReply | null>;
  sbConfirm(meta: string, epoch: string, seq: string): Promise<0 | 1>;
  sbTrim(...args: (string | number)[]): Promise<[removed: number, more: number]>;
  sbSetRead(...args: string[]): Promise<[stored: string, previous: string] | [-1]>;
}

/** Entries a search reads at a time (what it holds in memory at once). */
const SEARCH_PAGE = 64;

/** A registration token: tells one registration of a room name from another (see createRoom). */
function newToken(): string {
  return randomBytes(9).toString('base64url');
}

/** An entry from its stored parts: d (or its `over` replacement), its fold and its reply preview. */
function toEntry(room: string, seq: number, ts: number, draftJson: string, foldJson?: string | null, rpJson?: string | null): Entry {
  const d = JSON.parse(draftJson) as StoredDraft;
  const base = { room, seq, ts, from: d.from };
  if (d.type === 'join' || d.type === 'leave') return { type: d.type, ...base };
  if (d.type !== 'message') {
    const a = d as StoredAmendment;
    const amendment = { ...base, target: a.target, ...(a.clientId !== undefined ? { clientId: a.clientId } : {}) };
    if (a.type === 'edit') return { type: 'edit', ...amendment, text: a.text ?? '' };
    if (a.type === 'delete') return { type: 'delete', ...amendment };
    return { type: 'reaction', ...amendment, emoji: a.emoji ?? '', on: a.on ?? true };
  }
  const entry: MessageEntry = { type: 'message', ...base, text: d.text ?? '' };
  if (d.data !== undefined) entry.data = d.data;
  if (d.event !== undefined) entry.event = d.event;
  if (d.clientId !== undefined) entry.clientId = d.clientId;
  if (d.replyTo !== undefined) entry.replyTo = d.replyTo;
  if (rpJson) entry.reply = JSON.parse(rpJson) as ReplyPreview;
  if (foldJson) {
    const f = JSON.parse(foldJson) as StoredFold;
    if (f.text !== undefined) entry.text = f.text;
    if (f.edited) entry.edited = f.edited;
    if (f.deleted) {
      entry.deleted = true;
      entry.text = '';
    }
    if (f.reactions && f.reactions.length > 0) {
      entry.reactions = f.reactions.map((r): ReactionSummary => ({ emoji: r.emoji, count: r.by.length, by: r.by.slice(0, MAX_REACTORS_LISTED).map(([member, name]) => ({ member, name })) }));
    }
    if (f.folded !== undefined) entry.folded = f.folded;
  }
  return entry;
}

/** The entries of a RANGE reply, ascending: each seq of the window from its log entry or its `over` replacement. */
function fromRange(room: string, [from, , entries, overs, folds, rps]: RangeReply): Entry[] {
  const logged = new Map<number, StreamEntry>();
  for (const e of entries) logged.set(parseInt(e[0], 10), e);
  const out: Entry[] = [];
  for (let i = 0; i < overs.length; i++) {
    const seq = Number(from) + i;
    const e = logged.get(seq);
    if (e) out.push(toEntry(room, seq, Number(e[1][3]), e[1][1]!, folds[i], rps[i]));
    else if (overs[i]) {
      const o = JSON.parse(overs[i]!) as StoredDraft;
      out.push(toEntry(room, seq, o.ts ?? 0, overs[i]!, folds[i], rps[i]));
    }
  }
  return out;
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
 * - `P room:{R}` HASH epoch, lastSeq (the seq counter), firstSeq, createdAt, reg (its token),
 *   conf (with `replicas`: the confirmed mark, every seq up to it on the replicas; CONFIRM_LUA);
 * - `P room:{R}:probe`, `{P node-secret}:probe` STRINGs, with `replicas`: what a read, or nodeSecret,
 *   writes in the slot it read before its WAIT (range(); probeKey); a room's expires after a minute;
 * - `P log:{R}` STREAM of entries with explicit IDs `<seq>-0`, fields d = the draft as JSON
 *   (type, from, text, data, event, clientId), t = ts, c = the idempotency key (when a clientId is given). A stream rather than a sorted
 *   set: its IDs are the seqs, so XRANGE reads a seq range directly and XTRIM MINID drops the
 *   oldest entries in one command; it stores immutable entries compactly; and XADD refuses an ID
 *   not above the last one, a last line of defence against seq reuse.
 * - `P cid:{R}` HASH idempotency key → seq, the idempotency index; the key is the sender's scope
 *   and the clientId as one string (idempotencyKey()); trim removes the keys of the entries it drops.
 * - `P gone:{R}` STRING, for a day after a deletion: the registration token of the deleted history.
 * - `P node-secret` STRING, base64: the store's secret (nodeSecret), set once (SET NX), never changed;
 *   with `replicas`, given to no caller before a WAIT confirms it.
 * - `P disconnects` ZSET: the disconnect orders kept (keepDisconnect), the set the Redis broker keeps
 *   them in (broker/redis-disconnects.ts): with one prefix, an order both keep is stored once.
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
  /** With `replicas`: confirms that writes made so far reached them (one WAIT for all writes of a moment, per master). */
  private readonly replication: Replication | undefined;
  private readonly replicaCount: number;
  private readonly logger: Logger | undefined;
  /** With `replicas`: the counts of replicas warned of (`<master>/<replicas>`), and the timer that counts them again. */
  private readonly warnedReplicas = new Set<string>();
  private replicaCheck: NodeJS.Timeout | undefined;
  private readonly replicaCheckMs: number;

  constructor(options: RedisStoreOptions) {
    this.prefix = options.prefix;
    this.trimBatchSize = options.trimBatchSize ?? 2000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.redis = createRedisClient(options.url, { connectionName: 'switchboard-store', ...options });
    const replicas = options.replicas ?? 0;
    this.replicaCount = replicas;
    this.logger = options.logger;
    this.replicaCheckMs = options.replicaCheckMs ?? 60_000;
    this.replication = replicas > 0 ? new Replication(this.redis, replicas, options.replicaTimeoutMs ?? 1000) : undefined;
    this.redis.defineCommand('sbReserveRoom', { numberOfKeys: 2, lua: RESERVE_ROOM_LUA });
    this.redis.defineCommand('sbRenewRoom', { numberOfKeys: 2, lua: RENEW_ROOM_LUA });
    this.redis.defineCommand('sbUnregisterRoom', { numberOfKeys: 2, lua: UNREGISTER_ROOM_LUA });
    this.redis.defineCommand('sbCreateRoom', { numberOfKeys: 10, lua: CREATE_ROOM_LUA });
    this.redis.defineCommand('sbDeleteRoom', { numberOfKeys: 10, lua: DELETE_ROOM_LUA });
    this.redis.defineCommand('sbResetRoom', { numberOfKeys: 9, lua: RESET_ROOM_LUA });
    this.redis.defineCommand('sbAppend', { numberOfKeys: 7, lua: APPEND_LUA });
    this.redis.defineCommand('sbAmend', { numberOfKeys: 7, lua: AMEND_LUA });
    this.redis.defineCommand('sbRange', { numberOfKeys: 5, lua: RANGE_LUA, readOnly: true });
    this.redis.defineCommand('sbConfirm', { numberOfKeys: 1, lua: CONFIRM_LUA });
    this.redis.defineCommand('sbTrim', { numberOfKeys: 7, lua: TRIM_LUA });
    this.redis.defineCommand('sbSetRead', { numberOfKeys: 3, lua: SET_READ_LUA });
    this.scripts = this.redis as unknown as Scripts;
  }

  /**
   * Connects; rejects with STORE_UNAVAILABLE when Redis is not ready within `connectTimeoutMs`,
   * leaving nothing running (init may be called again).
   */
  async init(): Promise<void> {
    await waitUntilReady(this.redis, this.connectTimeoutMs);
    await this.warnOverReplicated();
    if (this.replication && this.logger && this.replicaCheck === undefined) {
      this.replicaCheck = setInterval(() => void this.warnOverReplicated(), this.replicaCheckMs);
      this.replicaCheck.unref();
    }
  }

  /**
   * With `replicas`: a master with more replicas than that is told of at start, and again when
   * a later count (every `replicaCheckMs`: a replica added to a running deployment) is one not
   * told of yet: once per master and count (a check that fails is passed over: it is advice, not
   * a condition to start). Writes wait for some of its replicas only, and a failover may promote
   * another one (docs/operations.md).
   */
  private async warnOverReplicated(): Promise<void> {
    if (!this.replication || !this.logger) return;
    const over = await this.replication.overReplicated().catch(() => []);
    for (const { master, replicas } of over) {
      const seen = `${master}/${replicas}`;
      if (this.warnedReplicas.has(seen)) continue;
      this.warnedReplicas.add(seen);
      this.logger.warn(
        { master, replicas, redisReplicas: this.replicaCount },
        `this Redis master has ${replicas} replicas and --redis-replicas is ${this.replicaCount}: a write is acknowledged once ${this.replicaCount} of them have it, and a failover that promotes another can lose it (docs/operations.md, "Redis Sentinel"); make --redis-replicas the number of replicas for no loss`,
      );
    }
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
      // The two steps write two slots (in a cluster, maybe two masters): both confirmed.
      const marks = this.writingTo(this.namesKey(), this.key('room', room));
      let token: string | null = null;
      // Each round either settles or replaces a registration left by a deletion running at the same time.
      for (let round = 0; round < 8; round++) {
        if (token === null) {
          const [status, registered] = await this.scripts.sbReserveRoom(this.namesKey(), this.registryKey(), room, newToken(), max);
          if (status === -1) throw new SwitchboardError('ROOM_LIMIT');
          token = registered;
        }
        const [created, epoch, lastSeq, firstSeq] = await this.scripts.sbCreateRoom(...this.dropKeys(room), token, newEpoch());
        if (created !== -2) {
          await this.confirmed(marks);
          return { state: { name: room, epoch, lastSeq: Number(lastSeq), firstSeq: Number(firstSeq) }, created: created === 1 };
        }
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
      const marks = this.writingTo(this.key('room', room), this.namesKey());
      const [existed, token] = await this.scripts.sbDeleteRoom(...this.dropKeys(room));
      if (existed !== 1) return false;
      await this.scripts.sbUnregisterRoom(this.namesKey(), this.registryKey(), room, token ?? '');
      await this.confirmed(marks);
      return true;
    });
  }

  async resetRoom(room: string): Promise<RoomState> {
    const marks = this.writingTo(this.key('room', room));
    const epoch = await this.guard(() => this.scripts.sbResetRoom(...this.roomKeys(room), this.key('reads', room), this.key('rnames', room), newEpoch()));
    if (epoch === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    await this.guard(() => this.confirmed(marks));
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
      const clientId = clientIdOf(draft);
      const key = clientId === undefined ? '' : idempotencyKey(draft.from, clientId);
      let stored: StoredDraft;
      let status: string;
      let epoch: string;
      let seq: string;
      let ts: string;
      let on = '';
      // Where the write goes, read before it: its WAIT must be on the same connection (in a cluster, to the same master).
      const mark = this.replication?.before(this.key('room', draft.room));
      if (isAmendment(draft)) {
        stored = { type: draft.type, from: draft.from, target: draft.target, ...(clientId !== undefined ? { clientId } : {}), ...(draft.type === 'edit' ? { text: draft.text } : {}), ...(draft.type === 'reaction' ? { emoji: draft.emoji } : {}) };
        const reaction = draft.type === 'reaction' ? draft : undefined;
        [status, epoch, seq, ts, on] = await this.scripts.sbAmend(
          ...this.roomKeys(draft.room), JSON.stringify(stored), key, draft.type, String(draft.target), draft.type === 'edit' ? draft.text : '',
          reaction?.emoji ?? '', clientScope(draft.from), draft.from.name, reaction?.on === undefined ? '' : reaction.on ? '1' : '0', String(MAX_REACTION_EMOJI),
        );
      } else {
        stored = draft.type === 'message'
          ? { type: draft.type, from: draft.from, text: draft.text, data: draft.data, event: draft.event, clientId: draft.clientId, replyTo: draft.replyTo }
          : { type: draft.type, from: draft.from };
        const replyTo = draft.type === 'message' && draft.replyTo !== undefined ? String(draft.replyTo) : '';
        [status, epoch, seq, ts] = await this.scripts.sbAppend(...this.roomKeys(draft.room), JSON.stringify(stored), key, replyTo);
      }
      if (status === 'NOROOM') throw new SwitchboardError('ROOM_NOT_FOUND', draft.room);
      const target = isAmendment(draft) ? draft.target : draft.type === 'message' ? draft.replyTo : undefined;
      if (status === 'NOTFOUND') throw new SwitchboardError('MESSAGE_NOT_FOUND', `#${target}`);
      if (status === 'DELETED') throw new SwitchboardError('MESSAGE_DELETED', `#${target}`);
      if (status === 'LIMIT') throw new SwitchboardError('REACTION_LIMIT', `at most ${MAX_REACTION_EMOJI} different reactions`);
      // Acknowledged only once on the replicas asked for (a duplicate too: its original may have been refused for want of them).
      if (this.replication) {
        await this.replication.confirm(mark!);
        // Sent before the reads below, on the same connection: they see the raised mark.
        this.raiseConfirmed(draft.room, epoch, seq);
      }
      if (status === 'DUP') {
        const [original] = await this.range(draft.room, 'after', String(Number(seq) - 1), 1);
        if (!original || original.seq !== Number(seq)) throw new SwitchboardError('STORE_UNAVAILABLE', 'the original of a duplicate was removed meanwhile');
        return { entry: original, epoch, duplicate: true };
      }
      // Built from what was stored, so the ack and later reads have exactly the same shape.
      const json = JSON.stringify(draft.type === 'reaction' ? { ...stored, on: on === 'true' } : stored);
      let entry = toEntry(draft.room, Number(seq), Number(ts), json);
      if (entry.type === 'message' && entry.replyTo !== undefined) {
        // The preview the script stored (from the target as it was then).
        const [read] = await this.range(draft.room, 'after', String(Number(seq) - 1), 1);
        if (read && read.seq === entry.seq) entry = read;
      }
      return { entry, epoch, duplicate: false };
    });
  }

  async readMessage(room: string, seq: number): Promise<MessageEntry | undefined> {
    const [e] = await this.range(room, 'after', String(Math.max(0, Math.floor(seq) - 1)), 1);
    return e && e.seq === seq && e.type === 'message' ? e : undefined;
  }

  async setReadPosition(room: string, member: string, name: string, seq: number): Promise<{ seq: number; previous: number }> {
    const reply = await this.guard(() => this.scripts.sbSetRead(this.key('room', room), this.key('reads', room), this.key('rnames', room), member, name, String(Math.max(0, Math.floor(seq))), String(MAX_READ_POSITIONS)));
    if (reply[0] === -1) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    return { seq: Number(reply[0]), previous: Number(reply[1]) };
  }

  async getReadPosition(room: string, member: string): Promise<number> {
    return this.guard(async () => {
      const [exists, score] = await Promise.all([this.redis.exists(this.key('room', room)), this.redis.zscore(this.key('reads', room), member)]);
      if (!exists) throw new SwitchboardError('ROOM_NOT_FOUND', room);
      return score === null ? 0 : Number(score);
    });
  }

  async listReadPositions(room: string, limit: number): Promise<ReadPosition[]> {
    return this.guard(async () => {
      if (!(await this.redis.exists(this.key('room', room)))) throw new SwitchboardError('ROOM_NOT_FOUND', room);
      const n = Math.max(0, Math.floor(limit));
      if (n === 0) return [];
      const flat = await this.redis.zrevrange(this.key('reads', room), 0, n - 1, 'WITHSCORES');
      const members: string[] = [];
      for (let i = 0; i < flat.length; i += 2) members.push(flat[i]!);
      const names = members.length > 0 ? await this.redis.hmget(this.key('rnames', room), ...members) : [];
      return members.map((member, i) => ({ member, name: names[i] ?? member, seq: Number(flat[2 * i + 1]) }));
    });
  }

  /**
   * A scan of the newest SEARCH_SCAN_LIMIT retained entries (ranges of 500, newest first):
   * `complete` is false when older entries are retained than the scan reached.
   */
  async search(room: string, request: SearchRequest): Promise<SearchAnswer> {
    const results: MessageEntry[] = [];
    let before = request.before === undefined ? '' : String(request.before);
    let scanned = 0;
    let chars = 0;
    for (;;) {
      const reply = await this.guard(() => this.scripts.sbRange(...this.rangeKeys(room), 'before', before, Math.min(SEARCH_PAGE, SEARCH_SCAN_LIMIT - scanned), ''));
      if (reply === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
      const from = Number(reply[0]);
      const to = Number(reply[1]);
      if (from > to) return { results, more: false, complete: true, scanned: chars };
      const entries = fromRange(room, reply);
      for (let i = entries.length - 1; i >= 0; i--) {
        const e = entries[i]!;
        if (e.type === 'message') chars += e.text.length;
        if (!messageMatches(e, request.words)) continue;
        if (results.length === request.limit) return { results, more: true, complete: true, scanned: chars };
        results.push(e);
      }
      scanned += to - from + 1;
      before = String(from);
      if (scanned >= SEARCH_SCAN_LIMIT || chars >= SEARCH_TEXT_LIMIT) {
        const state = await this.getRoom(room);
        return { results, more: false, complete: state === undefined || from <= state.firstSeq, scanned: chars };
      }
    }
  }

  async readAfter(room: string, after: number, limit: number): Promise<Entry[]> {
    return this.range(room, 'after', String(Math.max(0, Math.floor(after))), limit);
  }

  async readBefore(room: string, before: number | undefined, limit: number): Promise<Entry[]> {
    return this.range(room, 'before', before === undefined ? '' : String(Math.ceil(before)), limit);
  }

  async trim(retention: Retention, now: number): Promise<number> {
    const maxEntries = Number.isFinite(retention.maxEntries) ? Math.max(0, Math.floor(retention.maxEntries)) : Number.MAX_SAFE_INTEGER;
    const cutoff = Number.isFinite(retention.maxAgeMs) ? now - retention.maxAgeMs : -1;
    let removed = 0;
    for (const room of await this.roomNames()) {
      for (;;) {
        const [n, more] = await this.guard(() =>
          this.scripts.sbTrim(...this.roomKeys(room), maxEntries, cutoff, this.trimBatchSize),
        );
        removed += n;
        // Batches keep each script short, so Redis (single-threaded) serves appends in between.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!more) break;
      }
    }
    return removed;
  }

  /**
   * SET NX then GET: one key, so the first writer wins on every node, in a Redis Cluster too.
   * With `replicas`, given only once they have it, as an acknowledged append is (else
   * STORE_UNAVAILABLE): a failover that lost it would have the promoted replica draw another,
   * changing every anonymous sender's id and with it the scope of their clientIds, so a retry
   * of a message stored before would be stored again. A secret another node drew is confirmed
   * too: its WAIT may not have returned yet, and this connection's WAIT covers only what the
   * master had when this connection last wrote (hence the probe, as in range()).
   */
  async nodeSecret(): Promise<Buffer> {
    return this.guard(async () => {
      const key = `${this.prefix}node-secret`;
      const mark = this.replication?.before(key);
      const drawn = await this.redis.set(key, randomBytes(32).toString('base64'), 'NX');
      const stored = await this.redis.get(key);
      if (stored === null) throw new SwitchboardError('STORE_UNAVAILABLE', `${key} vanished right after it was set`);
      if (this.replication) {
        if (drawn === null) await this.redis.set(probeKey(key), 'node-secret');
        await this.replication.confirm(mark!);
      }
      return Buffer.from(stored, 'base64');
    });
  }

  async keepDisconnect(order: DisconnectOrder): Promise<void> {
    await this.guard(() => keepDisconnectIn(this.redis, `${this.prefix}disconnects`, order));
  }

  async recentDisconnects(since: number): Promise<DisconnectOrder[]> {
    return this.guard(() => readDisconnectsIn(this.redis, `${this.prefix}disconnects`, since));
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
    clearInterval(this.replicaCheck);
    this.replicaCheck = undefined;
    await closeRedisClient(this.redis);
  }

  /**
   * Entries of the room on one side of `from`. With `replicas`, only entries known to be on them:
   * up to the room's confirmed mark, or, when the read found newer ones, once a WAIT of this
   * connection (after a write of its own, so the WAIT covers everything the master had when the
   * entries were read) confirms them; when it does not (a failover under way, replicas away), the
   * read stops at the mark. Otherwise a poller reading through a master that is being replaced
   * could take an entry the failover then takes back, and miss the entry that gets its seq.
   */
  private async range(room: string, direction: 'after' | 'before', from: string, limit: number): Promise<Entry[]> {
    const count = Math.max(0, Math.floor(limit));
    const found = await this.guard(() => this.scripts.sbRange(...this.rangeKeys(room), direction, from, count, ''));
    if (found === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
    const entries = fromRange(room, found);
    const conf = Number(found[6]);
    const newest = entries.at(-1)?.seq ?? 0;
    if (!this.replication || newest <= conf) return entries;
    try {
      await this.guard(async () => {
        // A write in the room's slot (in a cluster, to the master the entries were read from), expiring: one key per room read this way.
        const roomKey = this.key('room', room);
        const mark = this.replication!.before(roomKey);
        await this.redis.set(probeKey(roomKey), String(newest), 'PX', 60_000);
        await this.replication!.confirm(mark);
      });
      this.raiseConfirmed(room, found[7], String(newest));
      return entries;
    } catch {
      const capped = await this.guard(() => this.scripts.sbRange(...this.rangeKeys(room), direction, from, count, String(conf)));
      if (capped === null) throw new SwitchboardError('ROOM_NOT_FOUND', room);
      return fromRange(room, capped);
    }
  }

  /** With `replicas`: where writes of these keys' slots are about to go (read before them; see Replication). */
  private writingTo(...keys: string[]): WriteMark[] | undefined {
    return this.replication && keys.map((key) => this.replication!.before(key));
  }

  /** Resolves once the writes `marks` were taken for are on the replicas (nothing to wait for without `replicas`). */
  private async confirmed(marks: WriteMark[] | undefined): Promise<void> {
    if (marks) await Promise.all(marks.map((mark) => this.replication!.confirm(mark)));
  }

  /** Raises the room's confirmed mark to `seq` (in `epoch`), without waiting: a later read that finds it lower confirms again. */
  private raiseConfirmed(room: string, epoch: string, seq: string): void {
    this.scripts.sbConfirm(this.key('room', room), epoch, seq).catch(() => {});
  }

  /** meta, log, cids, over, fold, rp, refs: what the append, amend and trim scripts take. */
  private roomKeys(room: string): string[] {
    return [this.key('room', room), this.key('log', room), this.key('cid', room), this.key('over', room), this.key('fold', room), this.key('rp', room), this.key('refs', room)];
  }

  /** meta, log, over, fold, rp: what the range script reads. */
  private rangeKeys(room: string): string[] {
    return [this.key('room', room), this.key('log', room), this.key('over', room), this.key('fold', room), this.key('rp', room)];
  }

  /** meta, log, cids, tombstone, then every other key of the room: what creation and deletion clear. */
  private dropKeys(room: string): string[] {
    const k = (kind: Parameters<RedisStore['key']>[0]): string => this.key(kind, room);
    return [k('room'), k('log'), k('cid'), k('gone'), k('over'), k('fold'), k('rp'), k('refs'), k('reads'), k('rnames')];
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
  private key(kind: 'room' | 'log' | 'cid' | 'gone' | 'over' | 'fold' | 'rp' | 'refs' | 'reads' | 'rnames', room: string): string {
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
