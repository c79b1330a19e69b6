"""The online routing update (``model.routing.update_offset``) as one Redis Lua script, so a
user's read-modify-write is atomic: Redis runs scripts one at a time, so concurrent feedback
for one user is applied in some order and none is lost, with one round trip per feedback.

The per-head losses ``L`` (which depend only on the labelled pair) and the prompt's prior
logits ``z`` are computed in Python and passed in; the script does the state-dependent
part in float64 (tests/service/test_store.py checks it against model/routing.py):

    w  = softmax(z + u)
    mirror: u' = u - eta * (w - softmax(log w - L / tau))      hedge: u' = u - L / tau
    u' = clamp(u' - mean(u'), -max_abs, max_abs)

KEYS: a user's keys in the order of service.store.UserKeys: 1 user state hash, 2 feedback
      results hash (id -> result), 3 feedback times zset.
ARGV: 1 feedback id, 2 K, 3 tau, 4 eta, 5 mode, 6 max_abs_offset, 7 user ttl s (0: none),
      8 feedback id ttl s, 9 "1" to require the stored context to equal ARGV[10], 10 context,
      11..10+K prior logits z, 11+K..10+2K losses L.
Returns {"ok", result json} | {"dup", first result json} | {"retry", ""} (context changed).
"""

APPLY_FEEDBACK = r"""
local fid, K = ARGV[1], tonumber(ARGV[2])
local prev = redis.call('HGET', KEYS[2], fid)
if prev then return {'dup', prev} end
local st = redis.call('HMGET', KEYS[1], 'offset', 'n', 'version', 'context')
if ARGV[9] == '1' and (st[4] or '') ~= ARGV[10] then return {'retry', ''} end

local u = {}
if st[1] then u = cjson.decode(st[1]) end
if #u ~= K then u = {}; for k = 1, K do u[k] = 0 end end
local z, L = {}, {}
for k = 1, K do z[k] = tonumber(ARGV[10 + k]); L[k] = tonumber(ARGV[10 + K + k]) end
local tau, eta, max_abs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])

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

local log_w = log_softmax(plus(z, u))
local new = {}
if ARGV[5] == 'hedge' then
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

local n = tonumber(st[2] or '0') + 1
local version = tonumber(st[3] or '0') + 1
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local offset = json(new)
redis.call('HSET', KEYS[1], 'offset', offset, 'n', n, 'version', version,
           'updated_at', string.format('%.6f', now))
local result = '{"weights_before":' .. json(exps(log_w)) .. ',"weights_after":'
  .. json(exps(log_softmax(plus(z, new)))) .. ',"n_feedback":' .. n .. ',"version":' .. version
  .. ',"offset":' .. offset .. '}'

local fb_ttl = tonumber(ARGV[8])
redis.call('HSET', KEYS[2], fid, result)
redis.call('ZADD', KEYS[3], now, fid)
local old = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - fb_ttl, 'LIMIT', 0, 100)
if #old > 0 then
  redis.call('HDEL', KEYS[2], unpack(old))
  redis.call('ZREM', KEYS[3], unpack(old))
end
redis.call('EXPIRE', KEYS[2], fb_ttl)
redis.call('EXPIRE', KEYS[3], fb_ttl)
local user_ttl = tonumber(ARGV[7])
if user_ttl > 0 then redis.call('EXPIRE', KEYS[1], user_ttl) end
return {'ok', result}
"""
