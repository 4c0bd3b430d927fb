-- Matched calls (KEYS[1]) against ended calls (KEYS[2], written on intake), both by the
-- time the call's webhook was accepted, over a window of ARGV[4] ms. Calls are decided out
-- of order (concurrent jobs, retries, backlogs), so two windows are checked: the one ending
-- at this call (ARGV[1]), and the one ending at the latest matched call already counted less
-- than a window after it. KEYS[5] keeps each matched call's "event<US>reason".
local d = redis.call('GET', KEYS[4]); if d then return d end
local t, w = tonumber(ARGV[1]), tonumber(ARGV[4])
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
-- Episodes (rules with resolved messages, ARGV[9] == '1'): KEYS[6] holds the open one of
-- this (rule, group): its id (first firing), when the condition last held, the calls it
-- covered; the next key lists open episodes by when they resolve (held + window).
local episode = ''
if ARGV[9] == '1' then
  episode = redis.call('HGET', KEYS[6], 'id')
  if holds(m, e) then
    if not episode then
      episode = tostring(at)
      redis.call('HSET', KEYS[6], 'id', episode, 'started', at, 'held', at, 'within', w,
        'calls', m, 'labels', ARGV[9 + 1])
    else
      redis.call('HINCRBY', KEYS[6], 'calls', 1)
      if tonumber(redis.call('HGET', KEYS[6], 'held')) < at then
        redis.call('HSET', KEYS[6], 'held', at)
      end
    end
    redis.call('PEXPIRE', KEYS[6], ARGV[9 + 3])
    redis.call('ZADD', KEYS[7], tonumber(redis.call('HGET', KEYS[6], 'held')) + w, ARGV[9 + 2])
  elseif episode then
    redis.call('HINCRBY', KEYS[6], 'calls', 1)
  else
    episode = ''
  end
end
-- Fires once a window, by the calls' own times (a backlog replayed, or a backtest, decides
-- as the calls did when they ended).
local function fired_within(at)
  local f = redis.call('GET', KEYS[3])
  return f and tonumber(f) > at - w
end
local result = 'below ' .. m .. ' ' .. e
if holds(m, e) and not fired_within(t) then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', 2 * w)
  result = 'fire ' .. m .. ' ' .. e
end
result = result .. ' ' .. episode
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
