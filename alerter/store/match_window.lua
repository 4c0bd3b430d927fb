-- The window of matched calls that rate.lua and baseline.lua both keep: the call ARGV[3]
-- counted at `t` (ms) in KEYS[1], its "event<US>reason" (ARGV[8]) in KEYS[5]; calls older
-- than two windows of `w` ms dropped from both and from the ended calls (KEYS[2]).
local function record_match(t, w)
  redis.call('ZADD', KEYS[1], t, ARGV[3])
  redis.call('HSET', KEYS[5], ARGV[3], ARGV[8])
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t - 2 * w, 'LIMIT', 0, 500)
  if #old > 0 then
    redis.call('ZREM', KEYS[1], unpack(old))
    redis.call('HDEL', KEYS[5], unpack(old))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t - 2 * w)
  redis.call('PEXPIRE', KEYS[1], 2 * w)
  redis.call('PEXPIRE', KEYS[5], 2 * w)
end
