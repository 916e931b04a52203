import type { Redis } from 'ioredis';
import type { PresenceMember, TransportName } from '../../protocol/types.js';
import { closeRedisClient, createRedisClient, waitUntilReady } from '../redis-connection.js';
import type { GoneMember, PresenceConnection, PresenceStore } from './presence-store.js';

/*
 * Key layout (P = prefix, R = room; room names hold no ':'):
 *   P prooms            SET of rooms that have members
 *   P pmembers:R        SET of members of R
 *   P pconns:R:M        ZSET connection id -> expiry (epoch ms) of member M in R
 *   P pinfo:R           HASH "M\nconnId" -> "name\ntransport"
 * Each operation is one Lua script, so a member's arrival or departure is seen by one node only.
 */

const ADD = `
local conns, members, info, rooms = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, conn, expires, now, value, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
local was = redis.call('ZCARD', conns)
redis.call('ZADD', conns, expires, conn)
redis.call('HSET', info, member .. '\\n' .. conn, value)
redis.call('SADD', members, member)
redis.call('SADD', rooms, room)
if was == 0 then return 1 else return 0 end`;

const REMOVE = `
local conns, members, info = KEYS[1], KEYS[2], KEYS[3]
local member, conn, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('ZREM', conns, conn) == 0 then return 0 end
redis.call('HDEL', info, member .. '\\n' .. conn)
redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
if redis.call('ZCARD', conns) > 0 then return 0 end
redis.call('DEL', conns)
redis.call('SREM', members, member)
return 1`;

/** Returns a flat list: member, name, transport, member, name, transport, ... for live connections. */
const MEMBERS = `
local prefix, room, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local conns = redis.call('ZRANGEBYSCORE', prefix .. 'pconns:' .. room .. ':' .. member, '(' .. now, '+inf')
  for _, conn in ipairs(conns) do
    local v = redis.call('HGET', KEYS[2], member .. '\\n' .. conn)
    if v then table.insert(out, member); table.insert(out, v) end
  end
end
return out`;

/** Removes members whose every connection expired; returns room, member, "name\\ntransport", conn for each. */
const REAP = `
local prefix, now = ARGV[1], ARGV[2]
local out = {}
for _, room in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local members = prefix .. 'pmembers:' .. room
  local info = prefix .. 'pinfo:' .. room
  for _, member in ipairs(redis.call('SMEMBERS', members)) do
    local conns = prefix .. 'pconns:' .. room .. ':' .. member
    local expired = redis.call('ZRANGEBYSCORE', conns, '-inf', now)
    if #expired > 0 then
      redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
      local last = expired[#expired]
      local v = redis.call('HGET', info, member .. '\\n' .. last) or ''
      for _, c in ipairs(expired) do redis.call('HDEL', info, member .. '\\n' .. c) end
      if redis.call('ZCARD', conns) == 0 then
        redis.call('SREM', members, member)
        redis.call('DEL', conns)
        table.insert(out, room); table.insert(out, member); table.insert(out, v); table.insert(out, last)
      end
    end
  end
  if redis.call('SCARD', members) == 0 then redis.call('SREM', KEYS[1], room) end
end
return out`;

interface Scripts {
  sbPresAdd(conns: string, members: string, info: string, rooms: string, member: string, conn: string, expires: number, now: number, value: string, room: string): Promise<number>;
  sbPresRemove(conns: string, members: string, info: string, member: string, conn: string, now: number): Promise<number>;
  sbPresMembers(members: string, info: string, prefix: string, room: string, now: number): Promise<string[]>;
  sbPresReap(rooms: string, prefix: string, now: number): Promise<string[]>;
}

/** Presence shared by every node through Redis; a dead node's connections expire and are reaped. */
export class RedisPresenceStore implements PresenceStore {
  readonly kind = 'redis';
  private readonly redis: Redis & Scripts;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    const redis = createRedisClient(url, { connectionName: 'switchboard-presence' });
    redis.defineCommand('sbPresAdd', { numberOfKeys: 4, lua: ADD });
    redis.defineCommand('sbPresRemove', { numberOfKeys: 3, lua: REMOVE });
    redis.defineCommand('sbPresMembers', { numberOfKeys: 2, lua: MEMBERS });
    redis.defineCommand('sbPresReap', { numberOfKeys: 1, lua: REAP });
    this.redis = redis as Redis & Scripts;
  }

  async init(): Promise<void> {
    await waitUntilReady(this.redis, 5000);
  }

  async add(room: string, conn: PresenceConnection, expiresAt: number): Promise<boolean> {
    const p = this.prefix;
    const value = `${conn.name}\n${conn.transport}`;
    return (await this.redis.sbPresAdd(`${p}pconns:${room}:${conn.member}`, `${p}pmembers:${room}`, `${p}pinfo:${room}`, `${p}prooms`, conn.member, conn.id, expiresAt, Date.now(), value, room)) === 1;
  }

  async remove(room: string, member: string, connectionId: string): Promise<boolean> {
    const p = this.prefix;
    return (await this.redis.sbPresRemove(`${p}pconns:${room}:${member}`, `${p}pmembers:${room}`, `${p}pinfo:${room}`, member, connectionId, Date.now())) === 1;
  }

  async refresh<C extends { room: string; member: string; id: string }>(conns: C[], expiresAt: number): Promise<C[]> {
    if (conns.length === 0) return [];
    const pipeline = this.redis.pipeline();
    // XX: only existing connections; CH: count a changed score, so 0 means "not there any more".
    for (const c of conns) pipeline.zadd(`${this.prefix}pconns:${c.room}:${c.member}`, 'XX', 'CH', expiresAt, c.id);
    const results = (await pipeline.exec()) ?? [];
    return conns.filter((_, i) => {
      const [err, changed] = results[i] ?? [null, 0];
      if (err) throw err;
      return changed === 0;
    });
  }

  async members(room: string, now: number): Promise<PresenceMember[]> {
    const flat = await this.redis.sbPresMembers(`${this.prefix}pmembers:${room}`, `${this.prefix}pinfo:${room}`, this.prefix, room, now);
    const byMember = new Map<string, PresenceMember>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i]!;
      const [name = member, transport = 'websocket'] = flat[i + 1]!.split('\n');
      const m = byMember.get(member) ?? { member, name, transports: [] };
      m.transports.push(transport as TransportName);
      byMember.set(member, m);
    }
    return [...byMember.values()];
  }

  async counts(rooms: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (rooms.length === 0) return out;
    const pipeline = this.redis.pipeline();
    for (const room of rooms) pipeline.scard(`${this.prefix}pmembers:${room}`);
    const results = (await pipeline.exec()) ?? [];
    rooms.forEach((room, i) => out.set(room, Number(results[i]?.[1] ?? 0)));
    return out;
  }

  async reap(now: number): Promise<GoneMember[]> {
    const flat = await this.redis.sbPresReap(`${this.prefix}prooms`, this.prefix, now);
    const gone: GoneMember[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      gone.push({ room: flat[i]!, member: flat[i + 1]!, name: flat[i + 2]!.split('\n')[0] || flat[i + 1]!, connectionId: flat[i + 3]! });
    }
    return gone;
  }

  async close(): Promise<void> {
    await closeRedisClient(this.redis);
  }
}
