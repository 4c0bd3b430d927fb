local d = redis.call('GET', KEYS[2]); if d then return d end
local last = redis.call('HGET', KEYS[1], 'last')
local result
if (not last) or tonumber(ARGV[1]) - tonumber(last) >= tonumber(ARGV[2]) then
  local prev = redis.call('HGET', KEYS[1], 'suppressed') or '0'
  redis.call('HSET', KEYS[1], 'last', ARGV[1], 'suppressed', 0)
  result = 'send ' .. prev .. ' ' .. (last or '')
else
  local n = redis.call('HINCRBY', KEYS[1], 'suppressed', 1)
  result = 'throttled ' .. n .. ' ' .. last
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], result, 'EX', ARGV[3])
return result
