-- Matched calls (KEYS[1]) against ended calls (KEYS[2], written on intake), both by the
-- time the call's webhook was accepted, over the window (ARGV[2], ARGV[1]]. Entries stay
-- one window longer, for calls decided late (backlogs). KEYS[5] keeps each matched call's
-- "event<US>reason", for the alert's breakdown.
local d = redis.call('GET', KEYS[4]); if d then return d end
local trim = tonumber(ARGV[2]) - tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[8])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', trim, 'LIMIT', 0, 500)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[5], unpack(old))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', trim)
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[5], 2 * tonumber(ARGV[4]))
local m = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], ARGV[1])
local e = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], ARGV[1])
if e < m then e = m end
local result = 'below ' .. m .. ' ' .. e
-- integer arithmetic: rate is given in parts per million
if e >= tonumber(ARGV[6]) and m * 1000000 >= tonumber(ARGV[5]) * e
   and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. m .. ' ' .. e
end
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
