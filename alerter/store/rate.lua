local d = redis.call('GET', KEYS[4]); if d then return d end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local m = redis.call('ZCARD', KEYS[1])
local e = redis.call('ZCARD', KEYS[2])
if e < m then e = m end
local result = 'below ' .. m .. ' ' .. e
-- integer arithmetic: rate is given in parts per million
if e >= tonumber(ARGV[6]) and m * 1000000 >= tonumber(ARGV[5]) * e
   and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[4])
  result = 'fire ' .. m .. ' ' .. e
end
redis.call('SET', KEYS[4], result, 'EX', ARGV[7])
return result
