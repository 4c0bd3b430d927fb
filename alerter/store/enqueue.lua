-- Ended-call counters of failure-rate rules ride along: KEYS[4 .. 3 + ARGV[7]], two ARGV
-- each; then flatline rules' group hashes, two ARGV each (group, labels): the group's last
-- call is this one.
local n = tonumber(ARGV[7])
for i = 4, 3 + n do
  local at = 7 + (i - 4) * 2
  redis.call('ZADD', KEYS[i], ARGV[5], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[at + 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[at + 2])
end
for i = 4 + n, #KEYS do
  local at = 8 + 2 * n + (i - 4 - n) * 2
  redis.call('HSET', KEYS[i], ARGV[at], ARGV[5] .. ' ' .. ARGV[at + 1])
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
