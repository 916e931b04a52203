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
for i = 5, #KEYS do redis.call('DEL', KEYS[i]) end
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
for i = 5, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('SET', KEYS[4], token, 'EX', 86400)
return {1, token}
`;

/**
 * KEYS: meta, log, cids. ARGV: epoch.
 * Starts the room's history again: drops the log and the idempotency index, sets the new epoch,
 * lastSeq 0, firstSeq 1 and the confirmed mark 0. The next append gets seq 1 (XADD accepts 1-0: the stream is new).
 * Returns the epoch, or nil when the room does not exist (nothing written).
 */
export const RESET_ROOM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('UNLINK', KEYS[2], KEYS[3])
for i = 4, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'lastSeq', '0', 'firstSeq', '1', 'conf', '0')
return ARGV[1]
`;


/**
 * Lua shared by the scripts that read or change messages. KEYS 1-7 are the room's meta, log,
 * cids, over, fold, rp and refs keys (see redis-store.ts).
 * - base(seq): the entry's stored JSON and ts and idempotency key: from the log, or from `over`
 *   when the log entry was erased (XDEL) and replaced; nil when neither holds it.
 * - target(seq): the message `seq` may amend: its base (decoded), its fold (decoded, {} when
 *   none); or an error status NOTFOUND / DELETED.
 * - cjson decodes a message's JSON only to read its from and text: what it writes back is made of
 *   strings and small numbers only (from, text, previews, reactions), never a message's data.
 */
const AMEND_HELPERS = `
local function base(seq)
  local found = redis.call('XRANGE', KEYS[2], seq .. '-0', seq .. '-0')
  if #found == 1 then
    local f = found[1][2]
    return f[2], f[4], f[6]
  end
  local o = redis.call('HGET', KEYS[4], seq)
  if not o then return nil end
  local d = cjson.decode(o)
  return o, d.ts, d.c
end
local function target(seq)
  local first = tonumber(redis.call('HGET', KEYS[1], 'firstSeq'))
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeq'))
  local n = tonumber(seq)
  if not n or n < first or n > last then return nil, nil, 'NOTFOUND' end
  local json = base(seq)
  if not json then return nil, nil, 'NOTFOUND' end
  local d = cjson.decode(json)
  if d.type ~= 'message' then return nil, nil, 'NOTFOUND' end
  local f = redis.call('HGET', KEYS[5], seq)
  local fold = {}
  if f then fold = cjson.decode(f) end
  if fold.deleted then return nil, nil, 'DELETED' end
  return d, fold, nil
end
local function addRef(t, seq)
  local refs = redis.call('HGET', KEYS[7], t)
  if refs then redis.call('HSET', KEYS[7], t, refs .. ',' .. seq) else redis.call('HSET', KEYS[7], t, seq) end
end
local function known(key)
  if key == '' then return nil end
  local seq = redis.call('HGET', KEYS[3], key)
  if seq and base(seq) then return seq end
  return nil
end
local function now()
  local t = redis.call('TIME')
  return t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
end
local function xadd(seq, d, ts, key)
  if key ~= '' then
    redis.call('XADD', KEYS[2], seq .. '-0', 'd', d, 't', ts, 'c', key)
  else
    redis.call('XADD', KEYS[2], seq .. '-0', 'd', d, 't', ts)
  end
end
`;

/**
 * KEYS: meta, log, cids. ARGV: draft JSON, idempotency key (sender scope and clientId as one
 * string, see idempotencyKey(); '' for none).
 * The idempotency check, the seq assignment (lastSeq + 1), the XADD and the index update in
 * one step. Fields are always written in the order d, t, c: the other scripts read them by position. ts is Redis TIME in ms.
 * Returns {'NOROOM'} | {'DUP', epoch, seq, ts, original draft JSON} | {'OK', epoch, seq, ts}.
 */
export const APPEND_LUA = AMEND_HELPERS + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOROOM'} end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local key = ARGV[2]
local dup = known(key)
if dup then return {'DUP', epoch, dup} end
local preview = nil
if ARGV[3] ~= '' then
  local d, fold, err = target(ARGV[3])
  if err then return {err} end
  local text = fold.text or d.text or ''
  -- The first 200 code points: count the bytes that start a UTF-8 sequence.
  local n, cut = 0, #text
  for i = 1, #text do
    local b = string.byte(text, i)
    if b < 128 or b >= 192 then
      n = n + 1
      if n == 201 then cut = i - 1; break end
    end
  end
  preview = {seq = tonumber(ARGV[3]), from = {name = d.from.name, member = d.from.member}, text = string.sub(text, 1, cut)}
end
local seq = tostring(tonumber(redis.call('HGET', KEYS[1], 'lastSeq')) + 1)
local ts = now()
-- XADD first: Redis does not roll a script back, and if XADD fails (out of memory, an ID not
-- above the stream's last one) nothing has been written yet, so no seq is skipped.
-- c holds the index field itself, so trim removes exactly that field without rebuilding it.
xadd(seq, ARGV[1], ts, key)
redis.call('HSET', KEYS[1], 'lastSeq', seq)
if key ~= '' then redis.call('HSET', KEYS[3], key, seq) end
if preview then
  redis.call('HSET', KEYS[6], seq, cjson.encode(preview))
  addRef(ARGV[3], seq)
end
return {'OK', epoch, seq, ts}
`;

/**
 * KEYS: meta, log, cids, over, fold, rp, refs. ARGV: the amendment's JSON (type, from, target,
 * clientId, text of an edit, emoji of a reaction; no `on`), idempotency key ('' for none), type,
 * target seq, edit text, emoji, sender scope (member), sender name, on ('1', '0', '' to toggle),
 * max distinct emoji.
 * Checks the target, stores the amendment (a reaction's with its resolved `on`) and folds it into
 * the target's `fold` (edited text, edited, deleted, reactions with every reactor, folded). A
 * delete erases: the message's log entry is replaced by one without text, data, event (in
 * `over`), its preview (rp) and reactions go, each edit of it is replaced by one with text '',
 * each reply quoting it gets a preview with text '' and deleted (the refs index lists them).
 * Returns {'NOROOM'} | {'NOTFOUND'} | {'DELETED'} | {'LIMIT'} | {'DUP', epoch, seq} | {'OK', epoch, seq, ts, on}.
 */
export const AMEND_LUA = AMEND_HELPERS + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOROOM'} end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local key = ARGV[2]
local dup = known(key)
if dup then return {'DUP', epoch, dup} end
local kind, t = ARGV[3], ARGV[4]
local d, fold, err = target(t)
if err then return {err} end
local seq = tostring(tonumber(redis.call('HGET', KEYS[1], 'lastSeq')) + 1)
local ts = now()
local json = ARGV[1]
local on = ''
if kind == 'edit' then
  fold.text = ARGV[5]
  fold.edited = {seq = tonumber(seq), ts = tonumber(ts)}
elseif kind == 'reaction' then
  local emoji, member, name = ARGV[6], ARGV[7], ARGV[8]
  local reactions = fold.reactions or {}
  local at, has = nil, false
  for i, r in ipairs(reactions) do
    if r.emoji == emoji then
      at = i
      for _, m in ipairs(r.by) do if m[1] == member then has = true end end
    end
  end
  local want = not has
  if ARGV[9] == '1' then want = true elseif ARGV[9] == '0' then want = false end
  if want and not has then
    if not at then
      if #reactions >= tonumber(ARGV[10]) then return {'LIMIT'} end
      reactions[#reactions + 1] = {emoji = emoji, by = {{member, name}}}
    else
      local by = reactions[at].by
      by[#by + 1] = {member, name}
    end
  elseif has and not want then
    local kept = {}
    for _, m in ipairs(reactions[at].by) do if m[1] ~= member then kept[#kept + 1] = m end end
    if #kept == 0 then table.remove(reactions, at) else reactions[at].by = kept end
  end
  if #reactions == 0 then fold.reactions = nil else fold.reactions = reactions end
  if want then on = 'true' else on = 'false' end
  json = string.sub(json, 1, -2) .. ',"on":' .. on .. '}'
else
  -- Erase the message: its log entry goes (XDEL), replaced by one without text, data, event.
  local _, mts, mkey = base(t)
  local erased = {type = 'message', from = d.from, clientId = d.clientId, replyTo = d.replyTo, ts = tonumber(mts), c = mkey}
  redis.call('XDEL', KEYS[2], t .. '-0')
  redis.call('HSET', KEYS[4], t, cjson.encode(erased))
  redis.call('HDEL', KEYS[6], t)
  fold = {deleted = true, edited = fold.edited}
  local refs = redis.call('HGET', KEYS[7], t)
  if refs then
    for r in string.gmatch(refs, '[^,]+') do
      local rjson, rts, rkey = base(r)
      if rjson then
        local rd = cjson.decode(rjson)
        if rd.type == 'edit' then
          rd.text = ''
          rd.ts = tonumber(rts)
          rd.c = rkey
          redis.call('XDEL', KEYS[2], r .. '-0')
          redis.call('HSET', KEYS[4], r, cjson.encode(rd))
        end
      end
      local p = redis.call('HGET', KEYS[6], r)
      if p then
        local pd = cjson.decode(p)
        if tostring(pd.seq) == t then
          pd.text = ''
          pd.deleted = true
          redis.call('HSET', KEYS[6], r, cjson.encode(pd))
        end
      end
    end
    redis.call('HDEL', KEYS[7], t)
  end
end
fold.folded = tonumber(seq)
xadd(seq, json, ts, key)
redis.call('HSET', KEYS[1], 'lastSeq', seq)
if key ~= '' then redis.call('HSET', KEYS[3], key, seq) end
redis.call('HSET', KEYS[5], t, cjson.encode(fold))
if kind == 'edit' then addRef(t, seq) end
return {'OK', epoch, seq, ts, on}
`;

/**
 * KEYS: meta, reads, readNames. ARGV: member, name, seq, the most positions kept.
 * Moves the member's read position to max(stored, min(seq, lastSeq)). Returns {stored, previous},
 * or {-1} when the room does not exist. A new member's position of 0 is not stored; a new one past
 * the most kept forgets the lowest (the first of the sorted set) and its name.
 */
export const SET_READ_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeq'))
local known = redis.call('ZSCORE', KEYS[2], ARGV[1])
local prev = tonumber(known or '0')
local want = math.min(tonumber(ARGV[3]), last)
local next = math.max(prev, want)
if not known and next == 0 then return {'0', '0'} end
redis.call('ZADD', KEYS[2], next, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if not known and redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[4]) then
  local lowest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('ZREM', KEYS[2], lowest)
  redis.call('HDEL', KEYS[3], lowest)
end
return {tostring(next), tostring(prev)}
`;

/**
 * KEYS: meta, log, over, fold, rp. ARGV: 'after' | 'before', seq (after: entries above it;
 * before: entries below it, '' for the newest), count, and a last seq to read up to ('' for the
 * room's last).
 * The seq window [from, to] of at most `count` retained seqs on that side, its log entries
 * (XRANGE), and for each seq of the window its `over`, `fold` and `rp` fields (false when none).
 * Returns {from, to, entries, overs, folds, rps, conf, epoch}, conf being the room's confirmed
 * mark (0 when none: see CONFIRM_LUA); nil when the room does not exist.
 */
export const RANGE_LUA = `
local meta = redis.call('HMGET', KEYS[1], 'firstSeq', 'lastSeq', 'conf', 'epoch')
if not meta[4] then return false end
local count = tonumber(ARGV[3])
local first = tonumber(meta[1])
local last = tonumber(meta[2])
if ARGV[4] ~= '' then last = math.min(last, tonumber(ARGV[4])) end
local conf = tonumber(meta[3] or '0')
local from, to
if ARGV[1] == 'after' then
  from = math.max(tonumber(ARGV[2]) + 1, first)
  to = math.min(from + count - 1, last)
else
  to = last
  if ARGV[2] ~= '' then to = math.min(tonumber(ARGV[2]) - 1, last) end
  from = math.max(to - count + 1, first)
end
if count <= 0 or from > to then return {0, -1, {}, {}, {}, {}, conf, meta[4]} end
local fields = {}
for s = from, to do fields[#fields + 1] = tostring(s) end
local entries = redis.call('XRANGE', KEYS[2], from .. '-0', to .. '-0')
return {from, to, entries, redis.call('HMGET', KEYS[3], unpack(fields)), redis.call('HMGET', KEYS[4], unpack(fields)), redis.call('HMGET', KEYS[5], unpack(fields)), conf, meta[4]}
`;

/**
 * KEYS: meta. ARGV: epoch, seq.
 * Raises the room's confirmed mark (field conf) to seq, when the room is still at that epoch and
 * the mark is lower: with `--redis-replicas`, every entry up to the mark is known to be on the
 * replicas asked for (the mark is raised only after a WAIT that covered it). A reset sets it to 0.
 * Returns 1 when raised, else 0.
 */
export const CONFIRM_LUA = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'conf') or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'conf', ARGV[2])
return 1
`;

/**
 * KEYS: meta, log, cids, over, fold, rp, refs. ARGV: maxEntries, cutoff ts (entries with ts < cutoff are too old), batch.
 * Looks at the `batch` oldest entries and removes the leading run of those that are beyond
 * maxEntries or too old, with their idempotency keys (field c: the cids field as the append
 * script wrote it); moves firstSeq past them.
 * Returns {removed, more 1|0}: more = the whole batch went, so the next one may go too.
 */
export const TRIM_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local batch = tonumber(ARGV[3])
local first = tonumber(redis.call('HGET', KEYS[1], 'firstSeq'))
local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeq'))
if first > last then return {0, 0} end
-- Seqs below keepFrom are beyond maxEntries. Erased entries are not in the log (XDEL) but in
-- over, with their ts: the window is walked by seq, so they count and age like the others.
local keepFrom = last - tonumber(ARGV[1]) + 1
local cutoff = tonumber(ARGV[2])
local to = math.min(first + batch - 1, last)
local fields = {}
for s = first, to do fields[#fields + 1] = tostring(s) end
local logged = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[2], first .. '-0', to .. '-0')) do
  local f = e[2]
  logged[tonumber(string.match(e[1], '^%d+'))] = {tonumber(f[4]), f[6]}
end
local overs = redis.call('HMGET', KEYS[4], unpack(fields))
local n = 0
local keys = {}
for i = 1, #fields do
  local s = first + i - 1
  local ts, key = nil, nil
  if logged[s] then
    ts, key = logged[s][1], logged[s][2]
  elseif overs[i] then
    local o = cjson.decode(overs[i])
    ts, key = o.ts, o.c
  end
  if s < keepFrom or (ts ~= nil and ts < cutoff) or ts == nil then
    n = i
    if key then keys[#keys + 1] = key end
  else
    break
  end
end
if n == 0 then return {0, 0} end
for i = 1, #keys, 500 do redis.call('HDEL', KEYS[3], unpack(keys, i, math.min(i + 499, #keys))) end
local gone = {}
for i = 1, n do gone[#gone + 1] = fields[i] end
for i = 1, #gone, 500 do
  local part = {unpack(gone, i, math.min(i + 499, #gone))}
  for k = 4, 7 do redis.call('HDEL', KEYS[k], unpack(part)) end
end
local nextFirst = tostring(first + n)
redis.call('XTRIM', KEYS[2], 'MINID', nextFirst)
redis.call('HSET', KEYS[1], 'firstSeq', nextFirst)
if n == batch and first + n <= last then return {n, 1} end
return {n, 0}
`;
