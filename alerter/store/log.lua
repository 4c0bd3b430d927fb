-- A decision's records (store.sent): its history line, its call's event, the rule's count,
-- when the rule last fired, the destination's last result. An expiry is set where a key or
-- a count starts, not on every write, and the call's events trimmed only past their cap.
-- ARGV: 1 maxlen, 2 max events, 3 retention, 4 counts ttl, 5 count field ('' none),
-- 6 rule fired ('' none), 7 its time, 8 destination ('' none), 9 its result, 10 the event,
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
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[6], ARGV[7])
end
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[8], ARGV[9])
end
return events
