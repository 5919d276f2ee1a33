"""The Lua scripts: each store operation is one atomic round trip.

Hash layout: user keys under "k:<key>", creation time (ms) under "!c",
version under "!v". Every script touches only keys of one hash slot (see
``store.redis.session_key``), so they run on a Redis Cluster too.
"""

from shared_session.cookie import FAMILY_CHARS

# KEYS: session, and (one server or Sentinel) the untagged key of earlier
# releases: a session found only there is moved to KEYS[1] first, in the same
# round trip, so upgrading logs nobody out.
LOAD = """
local d = redis.call('HGETALL', KEYS[1])
if #d == 0 and KEYS[2] and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[1])
  d = redis.call('HGETALL', KEYS[1])
end
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

# KEYS: source, target. ARGV: mode, now, idle, absolute, created (0: unknown),
# nset, pairs..., deletes...
# An update of one key runs EXISTS, HSET, HINCRBY, PEXPIRE: the creation time
# comes from the load, and emptiness is checked only when fields are deleted
# and none set. Fields go in one HSET / HDEL per 2,000 arguments (Lua's unpack
# limit). The first write of an update or a new session is an HSET, which
# Redis refuses as a whole when out of memory: a refused save applies nothing.
SAVE = """
local mode = ARGV[1]
local now = tonumber(ARGV[2])
local created = tonumber(ARGV[5])
local nset = tonumber(ARGV[6])
local src, dst = KEYS[1], KEYS[2]
local stamp = nil
if mode == 'u' or mode == 'r' then
  if redis.call('EXISTS', src) == 0 then return {-1, 0} end
  if mode == 'r' and src ~= dst then
    if redis.call('EXISTS', dst) == 1 then return {-3, 0} end
    redis.call('RENAME', src, dst)
    stamp = now
  end
else
  if mode == 'c' then
    redis.call('DEL', src)
    if nset == 0 then return {0, 0} end
  end
  if redis.call('EXISTS', dst) == 1 then return {-3, 0} end
  stamp = now
end
if stamp then created = stamp end
local i, last = 7, 6 + 2 * nset
if stamp and i > last then redis.call('HSET', dst, '!c', stamp) end
while i <= last do
  local j = math.min(i + 1999, last)
  if stamp then
    redis.call('HSET', dst, '!c', stamp, unpack(ARGV, i, j))
    stamp = nil
  else
    redis.call('HSET', dst, unpack(ARGV, i, j))
  end
  i = j + 1
end
if i <= #ARGV then
  while i <= #ARGV do
    local j = math.min(i + 1999, #ARGV)
    redis.call('HDEL', dst, unpack(ARGV, i, j))
    i = j + 1
  end
  if nset == 0 then
    local meta = redis.call('HEXISTS', dst, '!c') + redis.call('HEXISTS', dst, '!v')
    if redis.call('HLEN', dst) - meta <= 0 then
      redis.call('DEL', dst)
      return {0, 0}
    end
  end
end
local version = redis.call('HINCRBY', dst, '!v', 1)
if created == 0 then created = tonumber(redis.call('HGET', dst, '!c')) or now end
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
