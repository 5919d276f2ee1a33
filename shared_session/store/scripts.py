"""The Lua scripts: each store operation is one atomic round trip.

Hash layout: user keys under "k:<key>", creation time (ms) under "!c",
version under "!v". Every script touches only keys of one hash slot (see
``store.redis.session_key``), so they run on a Redis Cluster too.
"""

from shared_session.cookie import FAMILY_CHARS

LOAD = """
local d = redis.call('HGETALL', KEYS[1])
if #d == 0 then return d end
local created = nil
for i = 1, #d, 2 do
  if d[i] == '!c' then created = tonumber(d[i + 1]) break end
end
local now = tonumber(ARGV[1])
if created == nil then redis.call('DEL', KEYS[1]) return {} end
local left = created + tonumber(ARGV[3]) - now
if left <= 0 then redis.call('DEL', KEYS[1]) return {} end
local want = math.min(tonumber(ARGV[2]), left)
if want - redis.call('PTTL', KEYS[1]) > tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], want)
end
return d
"""

# KEYS: source, target. ARGV: mode, now, idle, absolute, nset, pairs..., deletes...
SAVE = """
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local nset = tonumber(ARGV[5])
local src, dst = KEYS[1], KEYS[2]
if mode == 'u' or mode == 'r' then
  if redis.call('EXISTS', src) == 0 then return {-1, 0} end
  if mode == 'r' and src ~= dst then
    if redis.call('EXISTS', dst) == 1 then return {-3, 0} end
    redis.call('RENAME', src, dst)
    redis.call('HSET', dst, '!c', now)
  end
else
  if mode == 'c' then
    redis.call('DEL', src)
    if nset == 0 then return {0, 0} end
  end
  if redis.call('EXISTS', dst) == 1 then return {-3, 0} end
  redis.call('HSET', dst, '!c', now)
end
local i = 6
for _ = 1, nset do
  redis.call('HSET', dst, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', dst, ARGV[i])
  i = i + 1
end
local meta = redis.call('HEXISTS', dst, '!c') + redis.call('HEXISTS', dst, '!v')
if redis.call('HLEN', dst) - meta <= 0 then
  redis.call('DEL', dst)
  return {0, 0}
end
local version = redis.call('HINCRBY', dst, '!v', 1)
local created = tonumber(redis.call('HGET', dst, '!c')) or now
local left = created + tonumber(ARGV[4]) - now
if left <= 0 then
  redis.call('DEL', dst)
  return {-2, 0}
end
redis.call('PEXPIRE', dst, math.min(tonumber(ARGV[3]), left))
return {1, version}
"""

# KEYS: marker, target. ARGV: key prefix, sid, now, idle, absolute, marker ttl, pairs...
# The marker remembers which session a legacy cookie became, so concurrent
# requests with the same cookie share one session, and a replay after that
# session is gone (logout) is refused instead of recreating it. The session
# it names is in the marker's hash slot: its id has the fingerprint's family.
TAKEOVER = """
local existing = redis.call('GET', KEYS[1])
if existing then
  local key = ARGV[1] .. '{' .. string.sub(existing, 1, FAMILY) .. '}:' .. existing
  local d = redis.call('HGETALL', key)
  if #d == 0 then return {0} end
  return {1, existing, d}
end
local now = tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[6])
redis.call('HSET', KEYS[2], '!c', now, '!v', 1)
local i = 7
while i < #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('PEXPIRE', KEYS[2], math.min(tonumber(ARGV[4]), tonumber(ARGV[5])))
return {2, ARGV[2]}
""".replace("FAMILY", str(FAMILY_CHARS))
