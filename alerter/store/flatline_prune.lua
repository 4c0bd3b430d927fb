-- A flatline rule's groups unseen since the cutoff dropped, with their episodes: KEYS[1] is
-- the rule's group hash, KEYS[2..] the candidates' episode keys; ARGV[1] the cutoff (ms),
-- ARGV[2..] the candidates' group digests, in the same order. A group whose call came after
-- it was read (its time is past the cutoff now) is kept. Answers the number dropped.
local dropped = 0
for i = 2, #ARGV do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value and tonumber(string.match(value, '^%d+')) < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('DEL', KEYS[i])
    dropped = dropped + 1
  end
end
return dropped
