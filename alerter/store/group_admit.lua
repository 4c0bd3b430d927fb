-- A rule's live groups (KEYS[1]: group digest -> when last seen, ms), for its cap. ARGV[1] is
-- the group, ARGV[2] now (ms), ARGV[3] how long a group's state is kept (ms), ARGV[4] the most
-- groups a rule keeps. Groups whose state has expired are forgotten first. Answers 1 when the
-- group may keep state of its own (known, or room left), else 0.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
if redis.call('ZSCORE', KEYS[1], ARGV[1])
    or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
