--#include episode
--#include match_window
--#include ring
-- A baseline rule's call matched at ARGV[1] (its event time, ms). The window of ARGV[4] ms
-- ending there counts matched (KEYS[1]) and ended (KEYS[2], written on intake) calls like
-- rate.lua; `over` is ARGV[9] whole hours before the hour the window starts in, summed from
-- hourly rings: the group's matched (KEYS[6]) and ended (KEYS[7]), and the fleet's (KEYS[8],
-- KEYS[9]) when the group had fewer than ARGV[6] ended calls then. Fires when the window's
-- share is at least ARGV[5] / 1000 times that share (integers: no rounding).
-- Answers `fire|below M E BM BE FLEET EPISODE @END`.
local d = redis.call('GET', KEYS[4]); if d then return d end
local t, w = tonumber(ARGV[1]), tonumber(ARGV[4])
local min, slots = tonumber(ARGV[6]), tonumber(ARGV[10])
record_match(t, w)
local hour = math.floor(t / 3600000)
for _, ring in ipairs({KEYS[6], KEYS[8]}) do
  ring_add(ring, hour, slots)
  redis.call('PEXPIRE', ring, ARGV[11])
end
local m = redis.call('ZCOUNT', KEYS[1], '(' .. (t - w), t)
local e = redis.call('ZCOUNT', KEYS[2], '(' .. (t - w), t)
if e < m then e = m end
local last = math.floor((t - w) / 3600000) - 1
local first = last - tonumber(ARGV[9]) + 1
local bm, be = ring_sum(KEYS[6], first, last, slots), ring_sum(KEYS[7], first, last, slots)
if be < bm then be = bm end
local fleet = 0
if be < min then
  bm, be = ring_sum(KEYS[8], first, last, slots), ring_sum(KEYS[9], first, last, slots)
  if be < bm then be = bm end
  fleet = 1
end
local holds = e >= min and be >= min and m * be * 1000 >= tonumber(ARGV[5]) * bm * e
local episode = keep_episode(KEYS[10], KEYS[11], ARGV, 12, holds, t, m, w)
local counts = string.format(' %d %d %d %d %d', m, e, bm, be, fleet)
local result = 'below' .. counts
if holds and not fired_within(KEYS[3], t, w) then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', 2 * w)
  result = 'fire' .. counts
end
result = result .. ' ' .. episode .. ' @' .. string.format('%d', t)
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
