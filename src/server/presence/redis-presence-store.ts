import type { PresenceMember, TransportName } from '../../protocol/types.js';
import { closeRedisClient, createRedisClient, waitUntilReady, type RedisClient, type RedisConnectionOptions } from '../redis-connection.js';
import type { GoneMember, PresenceAdded, PresenceConnection, PresenceLookup, PresenceRemoved, PresenceStore } from './presence-store.js';

/*
 * Key layout (P = prefix, R = room, M = member; room names hold no ':' and no braces):
 *   P{presence}:rooms    SET of rooms that may have members (where the reaper looks)
 *   P pmembers:{R}       SET of members of R
 *   P pconns:{R}:M       ZSET connection id -> expiry (epoch ms) of member M in R
 *   P pinfo:{R}          HASH "M\nconnId" -> "name\ntransport" or "name\ntransport\nnode"
 *   P preleased:{R}      SET of "M\nconnId" released (PresenceStore.release: kept for the grace)
 * (connId is a record id: see recordId; its connection id is what comes before any '#'.)
 * Every key of a room carries the hash tag {R}, so in a Redis Cluster a room's presence lives in
 * one slot (the room's, beside its log) and each script below touches that slot only: it is
 * atomic per room, so a member's arrival or departure is seen by one node only. The scripts
 * reach a member's `pconns` key by name (not declared in KEYS): it is in the same slot as the
 * declared keys, which a cluster allows. The rooms index is in another slot: it is written
 * beside the scripts, never inside them (see add and reap for why no room is lost from it).
 */

/** The connection id of a record id (connectionIdOf). */
const CLIENT_OF = `
local function clientOf(id) return string.match(id, '^[^#]*') end`;

/**
 * Answers 1 when the member arrived, 2 when this connection was live with the same name and
 * transport ("name\ntransport" before the node, which members are not shown), or it replaced one
 * record of its connection id that was, else 0 (ADDED). Replaces (removes) the released records
 * of its connection id and its live ones on the same transport (PresenceStore's rule). With
 * ARGV[6] = '1' (restore), answers 3 and adds nothing when a live unreleased record of its
 * connection id is on its transport.
 */
const ADD = `${CLIENT_OF}
local conns, members, info, released = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, conn, expires, now, value, restore = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local field = member .. '\\n' .. conn
local function seen(v) return v and string.match(v, '^[^\\n]*\\n[^\\n]*') end
local function transportOf(v) return v and string.match(v, '^[^\\n]*\\n([^\\n]*)') end
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
local was = redis.call('ZCARD', conns)
local old = redis.call('ZSCORE', conns, conn) and redis.call('HGET', info, field)
local replaced, last = 0, nil
if was > 1 or (was == 1 and not old) then
  local transport, gone = transportOf(value), {}
  for _, c in ipairs(redis.call('ZRANGE', conns, 0, -1)) do
    if c ~= conn and clientOf(c) == clientOf(conn) then
      local f = member .. '\\n' .. c
      local v = redis.call('HGET', info, f)
      local isReleased = redis.call('SISMEMBER', released, f) == 1
      if not isReleased and transportOf(v) == transport and restore == '1' then return 3 end
      if isReleased or transportOf(v) == transport then table.insert(gone, {c, f, v}) end
    end
  end
  for _, g in ipairs(gone) do
    replaced, last = replaced + 1, g[3]
    redis.call('SREM', released, g[2])
    redis.call('ZREM', conns, g[1])
    redis.call('HDEL', info, g[2])
  end
end
redis.call('SREM', released, field)
redis.call('ZADD', conns, expires, conn)
redis.call('HSET', info, field, value)
redis.call('SADD', members, member)
if was == 0 then return 1 end
if old and replaced == 0 and seen(old) == seen(value) then return 2 end
if not old and replaced == 1 and seen(last) == seen(value) then return 2 end
return 0`;

/**
 * Answers 2 when it removed the connection (an unreleased live record of its connection id
 * stays), else 0: marked released, or not found (RELEASED).
 */
const RELEASE = `${CLIENT_OF}
local conns, info, released = KEYS[1], KEYS[2], KEYS[3]
local member, conn, now = ARGV[1], ARGV[2], ARGV[3]
local field = member .. '\\n' .. conn
if not redis.call('ZSCORE', conns, conn) then return 0 end
for _, c in ipairs(redis.call('ZRANGEBYSCORE', conns, '(' .. now, '+inf')) do
  if c ~= conn and clientOf(c) == clientOf(conn) and redis.call('SISMEMBER', released, member .. '\\n' .. c) == 0 then
    redis.call('ZREM', conns, conn)
    redis.call('HDEL', info, field)
    redis.call('SREM', released, field)
    return 2
  end
end
redis.call('SADD', released, field)
return 0`;

/** What ADD's answer means. */
const ADDED: readonly PresenceAdded[] = ['changed', 'arrived', 'unchanged', 'superseded'];

/** The node of a connection's `pinfo` value (nil for none: no value, or one added without a node). */
const NODE_OF = `
local function nodeOf(value)
  if not value then return nil end
  return string.match(value, '^[^\\n]*\\n[^\\n]*\\n(.*)$')
end`;

/** ARGV[4]: '' removes the connection whatever node holds it, a node's name only while that node does. */
const REMOVE = `${NODE_OF}
local conns, members, info, released = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, conn, now, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local field = member .. '\\n' .. conn
if node ~= '' and nodeOf(redis.call('HGET', info, field)) ~= node then return 0 end
if redis.call('ZREM', conns, conn) == 0 then return 0 end
redis.call('HDEL', info, field)
redis.call('SREM', released, field)
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
if redis.call('ZCARD', conns) > 0 then return 2 end
redis.call('DEL', conns)
redis.call('SREM', members, member)
return 1`;

/** What REMOVE's answer means: 0 removed nothing (no such connection, or another node holds it), 1 the member left, 2 it has others. */
const REMOVED: readonly PresenceRemoved[] = ['none', 'left', 'changed'];

/** Pushes the expiry of one connection while node ARGV[4] holds it; 1 when it did, else 0. */
const REFRESH = `${NODE_OF}
local conns, info = KEYS[1], KEYS[2]
local member, conn, expires, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if nodeOf(redis.call('HGET', info, member .. '\\n' .. conn)) ~= node then return 0 end
return redis.call('ZADD', conns, 'XX', 'CH', expires, conn)`;

/**
 * Returns a flat list: member, "name\ntransport[\nnode]", ... for live connections, of every
 * member (ARGV[4] = 0) or of the first ARGV[4] members with a live connection, read by SSCAN a
 * page at a time: a subscribe to a room of 20,000 reads about its first hundred, not all of them.
 */
const MEMBERS = `
local prefix, room, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out, seen, found = {}, {}, 0
local function visit(member)
  if seen[member] then return end
  seen[member] = true
  local conns = redis.call('ZRANGEBYSCORE', prefix .. 'pconns:{' .. room .. '}:' .. member, '(' .. now, '+inf')
  local live = false
  for _, conn in ipairs(conns) do
    local v = redis.call('HGET', KEYS[2], member .. '\\n' .. conn)
    if v then table.insert(out, member); table.insert(out, v); live = true end
  end
  if live then found = found + 1 end
end
if limit == 0 then
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do visit(member) end
  return out
end
local cursor = '0'
repeat
  local page = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 100)
  cursor = page[1]
  for _, member in ipairs(page[2]) do
    if found >= limit then return out end
    visit(member)
  end
until cursor == '0' or found >= limit
return out`;

/**
 * A presence notice's read: the room's member count (live members counted when the set holds at
 * most ARGV[4]; else the set's size, over the cap), then member, "name\ntransport" for each live
 * connection of the members named in ARGV[5..].
 */
const LOOKUP = `
local prefix, room, now, cap = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local count = redis.call('SCARD', KEYS[1])
if count <= cap then
  count = 0
  for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if redis.call('ZCOUNT', prefix .. 'pconns:{' .. room .. '}:' .. member, '(' .. now, '+inf') > 0 then count = count + 1 end
  end
end
local out = {count}
for i = 5, #ARGV do
  local member = ARGV[i]
  for _, conn in ipairs(redis.call('ZRANGEBYSCORE', prefix .. 'pconns:{' .. room .. '}:' .. member, '(' .. now, '+inf')) do
    local v = redis.call('HGET', KEYS[2], member .. '\\n' .. conn)
    if v then table.insert(out, member); table.insert(out, v) end
  end
end
return out`;

/**
 * One room: removes members whose every connection expired; returns the number of members left,
 * then member, "name\ntransport", conn for each member gone.
 */
const REAP_ROOM = `
local members, info = KEYS[1], KEYS[2]
local prefix, room, now = ARGV[1], ARGV[2], ARGV[3]
local released = prefix .. 'preleased:{' .. room .. '}'
local out = {0}
for _, member in ipairs(redis.call('SMEMBERS', members)) do
  local conns = prefix .. 'pconns:{' .. room .. '}:' .. member
  local expired = redis.call('ZRANGEBYSCORE', conns, '-inf', now)
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
    local last = expired[#expired]
    local v = redis.call('HGET', info, member .. '\\n' .. last) or ''
    for _, c in ipairs(expired) do
      redis.call('HDEL', info, member .. '\\n' .. c)
      redis.call('SREM', released, member .. '\\n' .. c)
    end
    if redis.call('ZCARD', conns) == 0 then
      redis.call('SREM', members, member)
      redis.call('DEL', conns)
      table.insert(out, member); table.insert(out, v); table.insert(out, last)
    end
  end
end
out[1] = redis.call('SCARD', members)
return out`;

/** What RELEASE's answer means. */
const RELEASED: readonly PresenceRemoved[] = ['none', 'none', 'changed'];

interface Scripts {
  sbPresAdd(conns: string, members: string, info: string, released: string, member: string, conn: string, expires: number, now: number, value: string, restore: '0' | '1'): Promise<number>;
  sbPresRelease(conns: string, info: string, released: string, member: string, conn: string, now: number): Promise<number>;
  sbPresRemove(conns: string, members: string, info: string, released: string, member: string, conn: string, now: number, node: string): Promise<number>;
  sbPresRefresh(conns: string, info: string, member: string, conn: string, expires: number, node: string): Promise<number>;
  sbPresMembers(members: string, info: string, prefix: string, room: string, now: number, limit: number): Promise<string[]>;
  sbPresLookup(members: string, info: string, prefix: string, room: string, now: number, cap: number, ...names: string[]): Promise<[count: number, ...flat: string[]]>;
  sbPresReapRoom(members: string, info: string, prefix: string, room: string, now: number): Promise<[left: number, ...gone: string[]]>;
}

/**
 * Presence shared by every node through Redis (one server or a cluster); a dead node's
 * connections expire and are reaped.
 */
export class RedisPresenceStore implements PresenceStore {
  readonly kind = 'redis';
  private readonly redis: RedisClient & Scripts;

  /** `connection`: the client's options besides its name (a logger: see RedisConnectionOptions). */
  constructor(
    url: string,
    private readonly prefix: string,
    connection: RedisConnectionOptions = {},
  ) {
    const redis = createRedisClient(url, { ...connection, connectionName: 'switchboard-presence' });
    redis.defineCommand('sbPresAdd', { numberOfKeys: 4, lua: ADD });
    redis.defineCommand('sbPresRelease', { numberOfKeys: 3, lua: RELEASE });
    redis.defineCommand('sbPresRemove', { numberOfKeys: 4, lua: REMOVE });
    redis.defineCommand('sbPresRefresh', { numberOfKeys: 2, lua: REFRESH });
    redis.defineCommand('sbPresMembers', { numberOfKeys: 2, lua: MEMBERS });
    redis.defineCommand('sbPresLookup', { numberOfKeys: 2, lua: LOOKUP });
    redis.defineCommand('sbPresReapRoom', { numberOfKeys: 2, lua: REAP_ROOM });
    this.redis = redis as RedisClient & Scripts;
  }

  async init(): Promise<void> {
    await waitUntilReady(this.redis, 5000);
  }

  /**
   * The script first, then the room into the index: a reaper that took the room out of the index
   * meanwhile sees the new member when it checks again after (see reap).
   */
  async add(room: string, conn: PresenceConnection, expiresAt: number, restore = false): Promise<PresenceAdded> {
    const value = conn.node === undefined ? `${conn.name}\n${conn.transport}` : `${conn.name}\n${conn.transport}\n${conn.node}`;
    const added = ADDED[Number(await this.redis.sbPresAdd(this.connsKey(room, conn.member), this.membersKey(room), this.infoKey(room), this.releasedKey(room), conn.member, conn.id, expiresAt, Date.now(), value, restore ? '1' : '0'))]!;
    await this.redis.sadd(this.roomsKey(), room);
    return added;
  }

  async release(room: string, member: string, id: string): Promise<PresenceRemoved> {
    return RELEASED[Number(await this.redis.sbPresRelease(this.connsKey(room, member), this.infoKey(room), this.releasedKey(room), member, id, Date.now()))]!;
  }

  async remove(room: string, member: string, id: string, node?: string): Promise<PresenceRemoved> {
    return REMOVED[Number(await this.redis.sbPresRemove(this.connsKey(room, member), this.membersKey(room), this.infoKey(room), this.releasedKey(room), member, id, Date.now(), node ?? ''))]!;
  }

  /**
   * One ZADD per connection (with `node`, one script that checks the node first), pipelined per
   * master, and the rooms put back into the index should a node have died between add's two steps.
   */
  async refresh<C extends { room: string; member: string; id: string }>(conns: C[], expiresAt: number, node?: string): Promise<C[]> {
    if (conns.length === 0) return [];
    // XX: only existing connections; CH: count a changed score, so 0 means "not there any more".
    const changed = await Promise.all(
      conns.map((c) =>
        node === undefined
          ? this.redis.zadd(this.connsKey(c.room, c.member), 'XX', 'CH', expiresAt, c.id)
          : this.redis.sbPresRefresh(this.connsKey(c.room, c.member), this.infoKey(c.room), c.member, c.id, expiresAt, node),
      ),
    );
    await this.redis.sadd(this.roomsKey(), ...new Set(conns.map((c) => c.room)));
    return conns.filter((_, i) => Number(changed[i]) === 0);
  }

  async members(room: string, now: number, limit = Infinity, nodes = false): Promise<PresenceMember[]> {
    const flat = await this.redis.sbPresMembers(this.membersKey(room), this.infoKey(room), this.prefix, room, now, Number.isFinite(limit) ? Math.max(1, limit) : 0);
    return grouped(flat, nodes);
  }

  async lookup(room: string, members: readonly string[], now: number, cap: number): Promise<PresenceLookup> {
    const [count, ...flat] = await this.redis.sbPresLookup(this.membersKey(room), this.infoKey(room), this.prefix, room, now, cap, ...members);
    return { count: Number(count), members: grouped(flat, false) };
  }

  /** One SCARD per room, sent together (one pipeline per master). */
  async counts(rooms: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const n = await Promise.all(rooms.map((room) => this.redis.scard(this.membersKey(room))));
    rooms.forEach((room, i) => out.set(room, n[i] ?? 0));
    return out;
  }

  /**
   * Each room of the index in its own script. A room left with no member leaves the index, then is
   * checked once more: a member added meanwhile (add writes the index after its script) puts it back.
   */
  async reap(now: number): Promise<GoneMember[]> {
    const gone: GoneMember[] = [];
    for (const room of await this.redis.smembers(this.roomsKey())) {
      const [left, ...flat] = await this.redis.sbPresReapRoom(this.membersKey(room), this.infoKey(room), this.prefix, room, now);
      for (let i = 0; i + 2 < flat.length; i += 3) {
        gone.push({ room, member: flat[i]!, name: flat[i + 1]!.split('\n')[0] || flat[i]!, connectionId: flat[i + 2]! });
      }
      if (Number(left) === 0) {
        await this.redis.srem(this.roomsKey(), room);
        if ((await this.redis.scard(this.membersKey(room))) > 0) await this.redis.sadd(this.roomsKey(), room);
      }
    }
    return gone;
  }

  private roomsKey(): string {
    return `${this.prefix}{presence}:rooms`;
  }

  private membersKey(room: string): string {
    return `${this.prefix}pmembers:{${room}}`;
  }

  private infoKey(room: string): string {
    return `${this.prefix}pinfo:{${room}}`;
  }

  private releasedKey(room: string): string {
    return `${this.prefix}preleased:{${room}}`;
  }

  private connsKey(room: string, member: string): string {
    return `${this.prefix}pconns:{${room}}:${member}`;
  }

  async close(): Promise<void> {
    await closeRedisClient(this.redis);
  }
}

/** Members from a script's flat answer (member, "name\ntransport[\nnode]", ...), one per member. */
function grouped(flat: string[], nodes: boolean): PresenceMember[] {
  const byMember = new Map<string, PresenceMember>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const member = flat[i]!;
    const [name = member, transport = 'websocket', node = ''] = flat[i + 1]!.split('\n');
    const m = byMember.get(member) ?? { member, name, transports: [], ...(nodes ? { nodes: [] } : {}) };
    m.transports.push(transport as TransportName);
    m.nodes?.push(node);
    byMember.set(member, m);
  }
  return [...byMember.values()];
}
