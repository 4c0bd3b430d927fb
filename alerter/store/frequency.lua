local d = redis.call('GET', KEYS[3]); if d then return d end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
local result = 'below ' .. n
if n >= tonumber(ARGV[5]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. n
end
redis.call('SET', KEYS[3], result, 'EX', ARGV[6])
return result
