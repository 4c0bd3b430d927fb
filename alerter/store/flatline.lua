-- A flatline episode (KEYS[1]) opened or closed, with its note put in the outbox (KEYS[2])
-- in the same step: the tick that finds a group silent (or speaking again) twice, or after
-- a restart, changes nothing the second time.
-- ARGV: 'open' | 'close', the episode id (the last call's time, ms), the note, now (ms).
local id = redis.call('HGET', KEYS[1], 'id')
if ARGV[1] == 'open' then
  if id then return 0 end
  redis.call('HSET', KEYS[1], 'id', ARGV[2])
else
  if id ~= ARGV[2] then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
