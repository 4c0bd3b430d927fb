--#include episode
-- A call matched at ARGV[1] (its event time, ms): fire once a window of ARGV[4] ms holds
-- ARGV[5] calls. Calls are decided out of order (concurrent jobs, retries, backlogs), so two
-- windows are checked: the one ending at this call, and the one ending at the latest call
-- already counted less than a window after it. Entries stay one window longer than needed.
-- KEYS[4] keeps each counted call's "event<US>reason", for the alert's breakdown.
local d = redis.call('GET', KEYS[3]); if d then return d end
local t, w = tonumber(ARGV[1]), tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], t, ARGV[3])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[7])
-- Trimmed a bounded step at a time (a backlog cannot make one call pay for all).
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t - 2 * w, 'LIMIT', 0, 500)
if #old > 0 then
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('HDEL', KEYS[4], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], 2 * w)
redis.call('PEXPIRE', KEYS[4], 2 * w)
local function count(hi) return redis.call('ZCOUNT', KEYS[1], '(' .. (hi - w), hi) end
local n, at = count(t), t
local later = redis.call('ZREVRANGEBYSCORE', KEYS[1], t + w - 1, '(' .. t, 'WITHSCORES', 'LIMIT', 0, 1)
if #later > 0 then
  local n2 = count(tonumber(later[2]))
  if n2 > n then n, at = n2, tonumber(later[2]) end
end
local episode = keep_episode(KEYS[5], KEYS[6], ARGV, 8, n >= tonumber(ARGV[5]), at, n, w)
local result = 'below ' .. n
if n >= tonumber(ARGV[5]) and not fired_within(KEYS[2], t, w) then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', 2 * w)
  result = 'fire ' .. n
end
-- Last, the end of the window counted: the alert's breakdown is read over the same calls.
result = result .. ' ' .. episode .. ' @' .. string.format('%d', at)
redis.call('SET', KEYS[3], result, 'EX', ARGV[6])
return result
