-- Included by the window scripts (frequency.lua, rate.lua): keeps a (rule, group)'s open
-- episode, for rules with resolved messages. `key` holds it: its id (the first firing's
-- time), when the condition last held, the calls it covered, the group's labels; `due`
-- lists open episodes by when they would resolve (held + window). `a` are the script's
-- arguments from `first`: flag ('1': kept), labels, the due member, how long to keep it.
-- Returns the open episode's id, or '' when none.
local function keep_episode(key, due, a, first, holds, at, counted, w)
  if a[first] ~= '1' then return '' end
  local episode = redis.call('HGET', key, 'id')
  if holds then
    if not episode then
      episode = tostring(at)
      redis.call('HSET', key, 'id', episode, 'started', at, 'held', at, 'within', w,
        'calls', counted, 'labels', a[first + 1])
    else
      redis.call('HINCRBY', key, 'calls', 1)
      if tonumber(redis.call('HGET', key, 'held')) < at then
        redis.call('HSET', key, 'held', at)
      end
    end
    redis.call('PEXPIRE', key, a[first + 3])
    redis.call('ZADD', due, tonumber(redis.call('HGET', key, 'held')) + w, a[first + 2])
    return episode
  end
  if episode then
    redis.call('HINCRBY', key, 'calls', 1)
    return episode
  end
  return ''
end

-- Fires once a window, by the calls' own times (a backlog replayed, or a backtest, decides
-- as the calls did when they ended): `fired` holds the time of the last firing.
local function fired_within(fired, at, w)
  local f = redis.call('GET', fired)
  return f and tonumber(f) > at - w
end
