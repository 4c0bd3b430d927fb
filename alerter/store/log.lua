-- A decision's records (store.sent): its history line, its call's event, the rule's count,
-- when the rule last fired, the destination's last result. An expiry is set where a key or
-- a count starts, not on every write, and the call's events trimmed only past their cap.
-- ARGV: 1 maxlen, 2 max events, 3 retention, 4 counts ttl, 5 count field ('' none),
-- 6 the rule's field in KEYS[4] ('' not fired), 7 its time, 8 the destination's field
-- ('' no result), 9 its result, 10 the event,
-- 11... the history entry's fields and values.
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 11))
local events = redis.call('RPUSH', KEYS[2], ARGV[10])
if events == 1 then
  redis.call('EXPIRE', KEYS[2], ARGV[3])
elseif events > tonumber(ARGV[2]) then
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
end
if ARGV[5] ~= '' and redis.call('HINCRBY', KEYS[3], ARGV[5], 1) == 1 then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
-- when the rule last fired and the destination's last result: one hash, one HSET for both
local last = {}
if ARGV[6] ~= '' then
  last[#last + 1] = ARGV[6]
  last[#last + 1] = ARGV[7]
end
if ARGV[8] ~= '' then
  last[#last + 1] = ARGV[8]
  last[#last + 1] = ARGV[9]
end
if #last > 0 then
  redis.call('HSET', KEYS[4], unpack(last))
end
return events
