--#include episode
--#include match_window
-- Matched calls (KEYS[1]) against ended calls (KEYS[2], written on intake), both by the
-- time the call's webhook was accepted, over a window of ARGV[4] ms. Calls are decided out
-- of order (concurrent jobs, retries, backlogs), so two windows are checked: the one ending
-- at this call (ARGV[1]), and the one ending at the latest matched call already counted less
-- than a window after it. KEYS[5] keeps each matched call's "event<US>reason".
local d = redis.call('GET', KEYS[4]); if d then return d end
local t, w = tonumber(ARGV[1]), tonumber(ARGV[4])
record_match(t, w)
local function window(hi)
  local m = redis.call('ZCOUNT', KEYS[1], '(' .. (hi - w), hi)
  local e = redis.call('ZCOUNT', KEYS[2], '(' .. (hi - w), hi)
  if e < m then e = m end
  return m, e
end
-- integer arithmetic: rate is given in parts per million
local function holds(m, e)
  return e >= tonumber(ARGV[6]) and m * 1000000 >= tonumber(ARGV[5]) * e
end
local m, e = window(t)
local at = t
local later = redis.call('ZREVRANGEBYSCORE', KEYS[1], t + w - 1, '(' .. t, 'WITHSCORES', 'LIMIT', 0, 1)
if #later > 0 and not holds(m, e) then
  local m2, e2 = window(tonumber(later[2]))
  if holds(m2, e2) or m2 > m then m, e, at = m2, e2, tonumber(later[2]) end
end
local episode = keep_episode(KEYS[6], KEYS[7], ARGV, 9, holds(m, e), at, m, w)
local result = 'below ' .. m .. ' ' .. e
if holds(m, e) and not fired_within(KEYS[3], t, w) then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', 2 * w)
  result = 'fire ' .. m .. ' ' .. e
end
-- Last, the end of the window counted: the alert's breakdown is read over the same calls.
result = result .. ' ' .. episode .. ' @' .. string.format('%d', at)
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
