-- A grouped rule's alert of one failure signature at ARGV[1] (ms), for group ARGV[2].
-- KEYS[1]: the groups that alerted with it (by time); KEYS[2]: its open incident, kept as an
-- episode (id, started, held, within, calls, labels) so the tick resolves it like one, once
-- ARGV[3] ms pass with no alert of it; KEYS[3] the due list; KEYS[4] this decision.
-- Answers `single 0 N` (fewer than ARGV[4] groups within the window: the group's own alert),
-- `open ID N` (this group makes ARGV[4]: the incident's message) or `fold ID N`.
-- The incident's labels (ARGV[6]) name its groups too, for its resolved message.
local d = redis.call('GET', KEYS[4]); if d then return d end
local function labels()
  local l = cjson.decode(ARGV[6])
  l[#l + 1] = {'groups', table.concat(redis.call('ZRANGE', KEYS[1], 0, 49), '; ')}
  return cjson.encode(l)
end
local t, w = tonumber(ARGV[1]), tonumber(ARGV[3])
local id = redis.call('HGET', KEYS[2], 'id')
local result
redis.call('ZADD', KEYS[1], t, ARGV[2])
if id then
  redis.call('HINCRBY', KEYS[2], 'calls', 1)
  if tonumber(redis.call('HGET', KEYS[2], 'held')) < t then
    redis.call('HSET', KEYS[2], 'held', t)
  end
  redis.call('HSET', KEYS[2], 'labels', labels())
  result = 'fold ' .. id .. ' ' .. redis.call('ZCARD', KEYS[1])
else
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - w)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= tonumber(ARGV[4]) then
    id = string.format('%d', t)
    redis.call('HSET', KEYS[2], 'id', id, 'started', t, 'held', t, 'within', w, 'calls', 1,
      'labels', labels())
    result = 'open ' .. id .. ' ' .. n
  else
    result = 'single 0 ' .. n
  end
end
if id then
  redis.call('ZADD', KEYS[3], tonumber(redis.call('HGET', KEYS[2], 'held')) + w, ARGV[7])
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('SET', KEYS[4], result, 'EX', ARGV[5])
return result
