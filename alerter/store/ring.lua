-- Included by enqueue.lua and baseline.lua: hourly counters in a ring of `slots` fields, so a
-- group's counts over a long period take bounded memory. Field `hour % slots` holds
-- "HOUR:COUNT"; a field left from an older hour is reset, one from a newer hour is kept (a
-- late call from beyond the ring is not counted rather than erase newer counts).
local function ring_add(key, hour, slots)
  local field = tostring(hour % slots)
  local held = redis.call('HGET', key, field)
  local n = 1
  if held then
    local h, c = string.match(held, '^(%-?%d+):(%d+)$')
    h = tonumber(h)
    if h == hour then n = tonumber(c) + 1 elseif h > hour then return end
  end
  redis.call('HSET', key, field, string.format('%d:%d', hour, n))
end

-- The counts of hours `from` to `to` (inclusive) kept in the ring.
local function ring_sum(key, from, to, slots)
  if to < from then return 0 end
  local fields = {}
  for h = from, to do fields[#fields + 1] = tostring(h % slots) end
  local held = redis.call('HMGET', key, unpack(fields))
  local sum = 0
  for i = 1, #fields do
    local v = held[i]
    if v then
      local h, c = string.match(v, '^(%-?%d+):(%d+)$')
      if tonumber(h) == from + i - 1 then sum = sum + tonumber(c) end
    end
  end
  return sum
end
