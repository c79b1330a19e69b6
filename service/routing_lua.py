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
    u' = clamp(u' - mean(u'), -max_abs, max_abs)

Each label is idempotent by its feedback id: an id already in the results hash (applied before,
or earlier in the same call) is not applied again and its first result is returned. Ids are
remembered ``feedback id ttl`` seconds (MICRO_FEEDBACK_ID_TTL_S, a day by default).

KEYS: a user's keys in the order of service.store.UserKeys: 1 user state hash, 2 feedback
      results hash (id -> result), 3 feedback times zset.
ARGV: 1 K, 2 tau, 3 eta, 4 mode, 5 max_abs_offset, 6 user ttl s (0: none), 7 feedback id ttl s,
      8 "1" to require the stored context to equal ARGV[9], 9 context, 10 N labels;
      then per label i = 0..N-1, at b = 10 + i * (1 + 2K): b+1 feedback id, b+2..b+1+K prior
      logits z, b+2+K..b+1+2K losses L.
Returns {"retry"} when the context check fails (nothing written), else per label in order
{status, result json}, flattened: status "ok" (applied) or "dup" (the first result).
"""

APPLY_FEEDBACK = r"""
local K, N = tonumber(ARGV[1]), tonumber(ARGV[10])
local tau, eta, max_abs = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local hedge = ARGV[4] == 'hedge'

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
  local mean = 0
  for k = 1, K do mean = mean + new[k] end
  mean = mean / K
  for k = 1, K do
    local v = new[k] - mean
    if v > max_abs then v = max_abs elseif v < -max_abs then v = -max_abs end
    new[k] = v
  end
  return log_w, new
end

local out, st, u, n, version, now = {}, nil, nil, 0, 0, 0
for i = 0, N - 1 do
  local b = 10 + i * (1 + 2 * K)
  local fid = ARGV[b + 1]
  local prev = redis.call('HGET', KEYS[2], fid)
  if prev then
    out[#out + 1] = 'dup'; out[#out + 1] = prev
  else
    if not st then  -- the first label to apply: read the state and check the context once
      st = redis.call('HMGET', KEYS[1], 'offset', 'n', 'version', 'context')
      if ARGV[8] == '1' and (st[4] or '') ~= ARGV[9] then return {'retry'} end
      u = {}
      if st[1] then u = cjson.decode(st[1]) end
      if #u ~= K then u = {}; for k = 1, K do u[k] = 0 end end
      n, version = tonumber(st[2] or '0'), tonumber(st[3] or '0')
      local t = redis.call('TIME')
      now = tonumber(t[1]) + tonumber(t[2]) / 1e6
    end
    local z, L = {}, {}
    for k = 1, K do z[k] = tonumber(ARGV[b + 1 + k]); L[k] = tonumber(ARGV[b + 1 + K + k]) end
    local log_w, new = step(u, z, L)
    u, n, version = new, n + 1, version + 1
    local offset = json(u)
    local result = '{"weights_before":' .. json(exps(log_w)) .. ',"weights_after":'
      .. json(exps(log_softmax(plus(z, u)))) .. ',"n_feedback":' .. n .. ',"version":' .. version
      .. ',"offset":' .. offset .. '}'
    redis.call('HSET', KEYS[2], fid, result)
    redis.call('ZADD', KEYS[3], now, fid)
    out[#out + 1] = 'ok'; out[#out + 1] = result
  end
end
if not st then return out end  -- every label had been applied before: nothing written

redis.call('HSET', KEYS[1], 'offset', json(u), 'n', n, 'version', version,
           'updated_at', string.format('%.6f', now))
local fb_ttl = tonumber(ARGV[7])
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - fb_ttl, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
end
redis.call('EXPIRE', KEYS[2], fb_ttl)
redis.call('EXPIRE', KEYS[3], fb_ttl)
local user_ttl = tonumber(ARGV[6])
if user_ttl > 0 then redis.call('EXPIRE', KEYS[1], user_ttl) end
return out
"""
