/**
 * The Lua scripts of the Redis store (see redis-store.ts for the key layout). Redis runs each
 * one atomically, so every check-then-write below holds across all nodes. Each script touches
 * the keys of one hash slot only (one room's `{R}`, or the registry's `{rooms}`), as a Redis
 * Cluster requires; the slot is named before each. The scripts check
 * before they write, so a refused call (NOROOM) has written nothing.
 *
 * Numbers cross the Lua boundary as strings: Lua 5.1 formats large doubles as "1.7e+12".
 */

/**
 * Slot `{rooms}`. KEYS: names, registry. ARGV: name, token, maxRooms ('' for no cap).
 * Step 1 of a creation: reserves the name under the cap. A name already registered answers its
 * registration token (another creation got there first, or the room exists); otherwise, when
 * fewer than maxRooms names are registered, registers the name with `token`.
 * Returns {1, token} (reserved now) | {0, token of the existing registration} | {-1} (refused, nothing written).
 */
export const RESERVE_ROOM_LUA = `
local known = redis.call('HGET', KEYS[2], ARGV[1])
if known then return {0, known} end
-- ZCARD is O(1), and counted in the same script as the ZADD, so no other node reserves a name in between.
local max = tonumber(ARGV[3])
if max and redis.call('ZCARD', KEYS[1]) >= max then return {-1} end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, ARGV[2]}
`;

/**
 * Slot `{rooms}`. KEYS: names, registry. ARGV: name, stale token, fresh token.
 * The registration `stale` belongs to a deleted history (its room's tombstone says so): replaces
 * it with `fresh`, the name staying counted. Returns the token now registered, or nil when the
 * name is not registered any more (the creation reserves it again, under the cap).
 */
export const RENEW_ROOM_LUA = `
local known = redis.call('HGET', KEYS[2], ARGV[1])
if not known then return false end
if known == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  return ARGV[3]
end
return known
`;

/**
 * Slot `{rooms}`. KEYS: names, registry. ARGV: name, token.
 * Step 2 of a deletion: unregisters the name, but only the registration of the history that was
 * deleted (a creation that came in between registered another token, and keeps it).
 */
export const UNREGISTER_ROOM_LUA = `
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
`;

/**
 * Slot `{R}`. KEYS: meta, log, cids, tombstone. ARGV: token, epoch.
 * Step 2 of a creation: makes the room's state unless it exists, with a new epoch and the
 * registration token it was reserved under. A token the tombstone names belonged to a history
 * deleted meanwhile: refused, so the deletion's step 2 cannot unregister the new room. A new epoch
 * starts a fresh history, so leftovers of an older one (log, idempotency index) are dropped.
 * Returns {1, epoch, lastSeq, firstSeq} (created) | {0, ...} (existed) | {-2} (stale token, nothing written).
 */
export const CREATE_ROOM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local m = redis.call('HMGET', KEYS[1], 'epoch', 'lastSeq', 'firstSeq')
  return {0, m[1], m[2], m[3]}
end
if redis.call('GET', KEYS[4]) == ARGV[1] then return {-2} end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'lastSeq', '0', 'firstSeq', '1', 'reg', ARGV[1], 'createdAt', t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000)))
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return {1, ARGV[2], '0', '1'}
`;

/**
 * Slot `{R}`. KEYS: meta, log, cids, tombstone.
 * Step 1 of a deletion: removes the room's state, log and idempotency index, and leaves a
 * tombstone naming the registration token of that history (for a day: long enough for step 2,
 * which follows at once). Returns {1, token} when the room existed, else {0}.
 */
export const DELETE_ROOM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local token = redis.call('HGET', KEYS[1], 'reg') or ''
-- UNLINK frees a long log in a background thread, so Redis goes on serving other rooms meanwhile.
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
redis.call('SET', KEYS[4], token, 'EX', 86400)
return {1, token}
`;

/**
 * KEYS: meta, log, cids. ARGV: epoch.
 * Starts the room's history again: drops the log and the idempotency index, sets the new epoch,
 * lastSeq 0 and firstSeq 1. The next append gets seq 1 (XADD accepts 1-0: the stream is new).
 * Returns the epoch, or nil when the room does not exist (nothing written).
 */
export const RESET_ROOM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('UNLINK', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'lastSeq', '0', 'firstSeq', '1')
return ARGV[1]
`;

/**
 * KEYS: meta, log, cids. ARGV: draft JSON, idempotency key (sender scope and clientId as one
 * string, see idempotencyKey(); '' for none).
 * The idempotency check, the seq assignment (lastSeq + 1), the XADD and the index update in
 * one step. Fields are always written in the order d, t, c: the other scripts read them by position. ts is Redis TIME in ms.
 * Returns {'NOROOM'} | {'DUP', epoch, seq, ts, original draft JSON} | {'OK', epoch, seq, ts}.
 */
export const APPEND_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOROOM'} end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local key = ARGV[2]
if key ~= '' then
  local known = redis.call('HGET', KEYS[3], key)
  if known then
    local found = redis.call('XRANGE', KEYS[2], known, known)
    if #found == 1 then
      local f = found[1][2]
      return {'DUP', epoch, known, f[4], f[2]}
    end
  end
end
local seq = tostring(tonumber(redis.call('HGET', KEYS[1], 'lastSeq')) + 1)
local t = redis.call('TIME')
local ts = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
-- XADD first: Redis does not roll a script back, and if XADD fails (out of memory, an ID not
-- above the stream's last one) nothing has been written yet, so no seq is skipped.
-- c holds the index field itself, so trim removes exactly that field without rebuilding it.
if key ~= '' then
  redis.call('XADD', KEYS[2], seq .. '-0', 'd', ARGV[1], 't', ts, 'c', key)
else
  redis.call('XADD', KEYS[2], seq .. '-0', 'd', ARGV[1], 't', ts)
end
redis.call('HSET', KEYS[1], 'lastSeq', seq)
if key ~= '' then redis.call('HSET', KEYS[3], key, seq) end
return {'OK', epoch, seq, ts}
`;

/**
 * KEYS: meta, log. ARGV: 'after' | 'before', from, to, count.
 * XRANGE (after) or XREVRANGE (before) from..to, at most count; nil when the room does not exist.
 */
export const RANGE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if tonumber(ARGV[4]) <= 0 then return {} end
if ARGV[1] == 'after' then
  return redis.call('XRANGE', KEYS[2], ARGV[2], ARGV[3], 'COUNT', ARGV[4])
end
return redis.call('XREVRANGE', KEYS[2], ARGV[2], ARGV[3], 'COUNT', ARGV[4])
`;

/**
 * KEYS: meta, log, cids. ARGV: maxEntries, cutoff ts (entries with ts < cutoff are too old), batch.
 * Looks at the `batch` oldest entries and removes the leading run of those that are beyond
 * maxEntries or too old, with their idempotency keys (field c: the cids field as the append
 * script wrote it); moves firstSeq past them.
 * Returns {removed, more 1|0}: more = the whole batch went, so the next one may go too.
 */
export const TRIM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local batch = tonumber(ARGV[3])
local over = redis.call('XLEN', KEYS[2]) - tonumber(ARGV[1])
local cutoff = tonumber(ARGV[2])
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', batch)
local n = 0
for i, e in ipairs(oldest) do
  if i <= over or tonumber(e[2][4]) < cutoff then n = i else break end
end
if n == 0 then return {0, 0} end
local keys = {}
for i = 1, n do
  local key = oldest[i][2][6]
  if key then
    keys[#keys + 1] = key
    -- unpack() is bounded by the Lua stack: delete in chunks.
    if #keys == 500 then redis.call('HDEL', KEYS[3], unpack(keys)); keys = {} end
  end
end
if #keys > 0 then redis.call('HDEL', KEYS[3], unpack(keys)) end
local nextFirst = tostring(tonumber(string.match(oldest[n][1], '^%d+')) + 1)
redis.call('XTRIM', KEYS[2], 'MINID', nextFirst)
redis.call('HSET', KEYS[1], 'firstSeq', nextFirst)
if n == batch then return {n, 1} end
return {n, 0}
`;
