"""The online routing update (``model.routing.update_offset``) as one Redis Lua script, so a
user's read-modify-write is atomic: Redis runs scripts one at a time, so concurrent feedback
for one user is applied in some order and none is lost, with one round trip per call.

One call applies a list of labels of one user **in order** (one label for POST /v1/feedback,
up to MICRO_MAX_FEEDBACK_ITEMS for POST /v1/users/{id}/feedback:batch). The per-head losses
``L`` (which depend only on the labelled pair) and the prompt's prior logits ``z`` are computed
in Python and passed in; the script does the state-dependent part in float64, label after label,
each starting from the offset the previous one left (tests/service/test_store.py checks it
against model/routing.py):

    w  = softmax(z + u)
    mirror: u' = u - eta * (w - softmax(log w - L / tau))      hedge: u' = u - L / tau
    u' = clamp(u' - mean(u'), -max_abs, max_abs)               (a non-finite u' leaves u as it was)

A stored offset that is not K finite numbers (or not JSON) is read as the prior (zeros).

Each label is idempotent by its feedback id: an id already in the results hash (applied before,
or earlier in the same call) is not applied again and its first result is returned ("dup"),
unless that result was written by this same call's attempt token (a command redis-py resent
after a lost reply): then it is "ok", the truth for the caller. Ids are remembered
MICRO_FEEDBACK_ID_TTL_S seconds and at most the last MICRO_FEEDBACK_ID_MAX per user.

Each applied label's texts (a JSON item, when given) are appended to the user's history list,
which is kept outside the model version and trimmed to the last MICRO_HISTORY_MAX items: a new
model replays it (service/inference/user_history.py; replay mode records nothing and starts a new state
from the kept context).

KEYS: a user's keys in the order of service.state.records.UserKeys: 1 state hash, 2 feedback
      results hash (id -> result), 3 feedback times zset, 4 history list, 5 context string,
      6 the set of the user's state keys under every model version (what an erase deletes),
      7 the history's bytes (the sum of its items' lengths; what the tenant quota counts).
ARGV: 1 K, 2 tau, 3 eta, 4 mode, 5 max_abs_offset, 6 user ttl s (0: none), 7 feedback id ttl s,
      8 "1" to require the stored context to equal ARGV[9], 9 context, 10 N labels,
      11 history max (items kept), 12 feedback id max (ids kept), 13 attempt token,
      14 "1" replay (a new state takes the kept context; no history written);
      then per label i = 0..N-1, at b = 14 + i * (3 + 2K): b+1 feedback id, b+2 history item
      ("" for none), b+3 the label's digest ("" for none), b+4..b+3+K prior logits z,
      b+4+K..b+3+2K losses L.
Returns {"retry"} when the context check fails (nothing written), {"conflict", id} when an id was
applied before (or comes twice in the call) with another digest (nothing written), else per label
in order {status, result json}, flattened: status "ok" (applied by this call) or "dup" (the first
result). A result stored without a digest (before digests were kept), or a label without one, is
never a conflict.
"""

APPLY_FEEDBACK = r"""
local K, N = tonumber(ARGV[1]), tonumber(ARGV[10])
local tau, eta, max_abs = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local hedge = ARGV[4] == 'hedge'
local history_max, ids_max, attempt = tonumber(ARGV[11]), tonumber(ARGV[12]), ARGV[13]
local replay = ARGV[14] == '1'
local mark = '"by":"' .. attempt .. '"'

local function finite(x) return type(x) == 'number' and x == x and x ~= math.huge and x ~= -math.huge end
local function log_softmax(x)
  local m = -math.huge
  for k = 1, K do if x[k] > m then m = x[k] end end
  local s = 0
  for k = 1, K do s = s + math.exp(x[k] - m) end
  local lse, out = m + math.log(s), {}
  for k = 1, K do out[k] = x[k] - lse end
  return out
end
local function plus(a, b) local o = {}; for k = 1, K do o[k] = a[k] + b[k] end; return o end
local function exps(a) local o = {}; for k = 1, K do o[k] = math.exp(a[k]) end; return o end
local function json(xs)
  local p = {}
  for k = 1, K do p[k] = string.format('%.17g', xs[k]) end
  return '[' .. table.concat(p, ',') .. ']'
end
local function stored_offset(raw)  -- K finite numbers, else the prior (zeros)
  local ok, u = false, nil
  if raw then ok, u = pcall(cjson.decode, raw) end
  local good = ok and type(u) == 'table' and #u == K
  if good then for k = 1, K do if not finite(u[k]) then good = false end end end
  if good then return u end
  u = {}
  for k = 1, K do u[k] = 0 end
  return u
end
local function count(raw) local v = tonumber(raw or '0'); if finite(v) then return v end; return 0 end

local function step(u, z, L)
  local log_w = log_softmax(plus(z, u))
  local new = {}
  if hedge then
    for k = 1, K do new[k] = u[k] - L[k] / tau end
  else
    local g = {}
    for k = 1, K do g[k] = log_w[k] - L[k] / tau end
    local log_f = log_softmax(g)
    for k = 1, K do new[k] = u[k] - eta * (math.exp(log_w[k]) - math.exp(log_f[k])) end
  end
  for k = 1, K do if not finite(new[k]) then new = u; break end end  -- never store a NaN
  local mean = 0
  for k = 1, K do mean = mean + new[k] end
  mean = mean / K
  local out = {}
  for k = 1, K do
    local v = new[k] - mean
    if v > max_abs then v = max_abs elseif v < -max_abs then v = -max_abs end
    out[k] = v
  end
  return log_w, out
end

local stride = 3 + 2 * K
local seen = {}  -- id -> digest earlier in this call
for i = 0, N - 1 do  -- an id reused with another label: refused before anything is written
  local b = 14 + i * stride
  local fid, digest = ARGV[b + 1], ARGV[b + 3]
  if digest ~= '' then
    local prev = redis.call('HGET', KEYS[2], fid)
    local kept = prev and string.match(prev, '"digest":"(%x+)"') or seen[fid]
    if kept and kept ~= digest then return {'conflict', fid} end
    seen[fid] = seen[fid] or digest
  end
end

local st = redis.call('HMGET', KEYS[1], 'offset', 'n', 'version', 'context')
if ARGV[8] == '1' and (st[4] or '') ~= ARGV[9] then return {'retry'} end
local u, n, version = stored_offset(st[1]), count(st[2]), count(st[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local out, wrote, recorded, added, mine = {}, replay, 0, 0, {}
for i = 0, N - 1 do
  local b = 14 + i * stride
  local fid = ARGV[b + 1]
  local prev = redis.call('HGET', KEYS[2], fid)
  if prev then
    -- "ok" only for a result an earlier attempt of this same call wrote (a resent command)
    local ours = not mine[fid] and string.find(prev, mark, 1, true)
    out[#out + 1] = ours and 'ok' or 'dup'; out[#out + 1] = prev
  else
    local z, L = {}, {}
    for k = 1, K do z[k] = tonumber(ARGV[b + 3 + k]); L[k] = tonumber(ARGV[b + 3 + K + k]) end
    local log_w, new = step(u, z, L)
    u, n, version, wrote = new, n + 1, version + 1, true
    local result = '{"weights_before":' .. json(exps(log_w)) .. ',"weights_after":'
      .. json(exps(log_softmax(plus(z, u)))) .. ',"n_feedback":' .. n .. ',"version":' .. version
      .. ',"offset":' .. json(u) .. ',' .. mark
      .. (ARGV[b + 3] ~= '' and (',"digest":"' .. ARGV[b + 3] .. '"') or '') .. '}'
    redis.call('HSET', KEYS[2], fid, result)
    redis.call('ZADD', KEYS[3], now, fid)
    mine[fid] = true
    if ARGV[b + 2] ~= '' and not replay and history_max > 0 then
      redis.call('RPUSH', KEYS[4], ARGV[b + 2]); recorded = recorded + 1; added = added + #ARGV[b + 2]
    end
    out[#out + 1] = 'ok'; out[#out + 1] = result
  end
end
if not wrote then return out end  -- every label had been applied before: nothing written

if replay and not st[4] then
  local kept = redis.call('GET', KEYS[5])
  if kept then redis.call('HSET', KEYS[1], 'context', kept) end
end
if version == 0 then version = 1 end  -- a replay that applied nothing still creates the state
redis.call('HSET', KEYS[1], 'offset', json(u), 'n', n, 'version', version,
           'updated_at', string.format('%.6f', now))
redis.call('SADD', KEYS[6], KEYS[1])
local fb_ttl = tonumber(ARGV[7])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - fb_ttl, 'LIMIT', 0, 1000)
if #old > 0 then
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
end
local excess = math.min(redis.call('ZCARD', KEYS[3]) - ids_max, 1000)
if excess > 0 then  -- only the last ids_max ids are remembered
  local oldest = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  redis.call('HDEL', KEYS[2], unpack(oldest))
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
end
redis.call('EXPIRE', KEYS[2], fb_ttl)
redis.call('EXPIRE', KEYS[3], fb_ttl)
local user_ttl = tonumber(ARGV[6])
if recorded > 0 then  -- the oldest items beyond history_max go, and their bytes with them
  local extra, freed = redis.call('LLEN', KEYS[4]) - history_max, 0
  if extra > 0 then
    for _, item in ipairs(redis.call('LRANGE', KEYS[4], 0, extra - 1)) do freed = freed + #item end
    redis.call('LTRIM', KEYS[4], -history_max, -1)
  end
  if redis.call('INCRBY', KEYS[7], added - freed) < 0 then redis.call('SET', KEYS[7], 0) end
end
if user_ttl > 0 then
  redis.call('EXPIRE', KEYS[1], user_ttl)
  if recorded > 0 then redis.call('EXPIRE', KEYS[4], user_ttl); redis.call('EXPIRE', KEYS[7], user_ttl) end
  if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], user_ttl) end
  redis.call('EXPIRE', KEYS[6], user_ttl)
end
return out
"""

# One read of a user (one command, one round trip): KEYS as above; ARGV the feedback ids asked about.
# Returns the state hash's 5 fields (service.state.records.FIELDS), the history's length, whether a
# context is kept (0/1), the history's and the context's bytes, then per id its first result or nil.
READ_USER = r"""
local st = redis.call('HMGET', KEYS[1], 'offset', 'n', 'version', 'context', 'updated_at')
local out = {st[1], st[2], st[3], st[4], st[5], redis.call('LLEN', KEYS[4]), redis.call('EXISTS', KEYS[5]),
             tonumber(redis.call('GET', KEYS[7]) or '0'), redis.call('STRLEN', KEYS[5])}
if #ARGV > 0 then
  local prev = redis.call('HMGET', KEYS[2], unpack(ARGV))
  for i = 1, #ARGV do out[#out + 1] = prev[i] end
end
return out
"""

# Erase a user (DELETE /v1/users/{id}): KEYS as above. Every model version's state, feedback results and
# times (the state keys listed in KEYS[6]; the others are the state key + ":fb" / ":fbt", all in the user's
# hash slot), then the keys given. Returns the number of keys deleted.
ERASE_USER = r"""
local n = 0
for _, state in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  n = n + redis.call('DEL', state, state .. ':fb', state .. ':fbt')
end
return n + redis.call('DEL', unpack(KEYS))
"""
