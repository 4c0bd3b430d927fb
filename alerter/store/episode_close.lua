-- Resolve an open episode (KEYS[1]) of a frequency or rate rule once its condition has not
-- held for a whole window (held + within <= ARGV[1]): it moves, as one note, from the due
-- list (KEYS[2]) to the outbox (KEYS[3]) that the tick turns into send jobs. Otherwise it
-- is put back in the due list at its new time.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return false
end
local e = {}
for i = 1, #h, 2 do e[h[i]] = h[i + 1] end
local due = tonumber(e.held) + tonumber(e.within)
if due > tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[2], due, ARGV[2])
  return false
end
local note = cjson.encode({
  rule = ARGV[3], digest = ARGV[4], id = e.id, kind = 'resolved', flatline = false,
  started = tonumber(e.started), ended = due, calls = tonumber(e.calls), labels = e.labels,
})
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], note)
return note
