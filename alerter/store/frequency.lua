-- A call matched at ARGV[1] (its event time, ms): fire once the window (ARGV[2], ARGV[1]]
-- holds ARGV[5] calls. Entries stay one window longer, for calls decided late (backlogs).
-- KEYS[4] keeps each counted call's "event<US>reason", for the alert's breakdown.
local d = redis.call('GET', KEYS[3]); if d then return d end
local trim = tonumber(ARGV[2]) - tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[7])
-- Trimmed a bounded step at a time (a backlog cannot make one call pay for all).
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', trim, 'LIMIT', 0, 500)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[4], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[4], 2 * tonumber(ARGV[4]))
local n = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], ARGV[1])
local result = 'below ' .. n
if n >= tonumber(ARGV[5]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. n
end
redis.call('SET', KEYS[3], result, 'EX', ARGV[6])
return result
