-- Ended-call counters of failure-rate rules ride along: KEYS[4..], two ARGV each.
for i = 4, #KEYS do
  local at = 6 + (i - 4) * 2
  redis.call('ZADD', KEYS[i], ARGV[5], ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[at + 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[at + 2])
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
