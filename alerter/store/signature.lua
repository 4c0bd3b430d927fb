-- A signature seen on a call: was it new (unseen for ARGV[4] seconds), and how many calls
-- carried it in the last hour. Day counts are capped (ARGV[6] signatures a day).
local d = redis.call('GET', KEYS[5]); if d then return d end
local seen_before = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('EXPIRE', KEYS[2], 7200)
local hour = redis.call('ZCARD', KEYS[2])
redis.call('ZINCRBY', KEYS[3], 1, ARGV[5])
redis.call('EXPIRE', KEYS[3], 8 * 86400)
local kinds = redis.call('ZCARD', KEYS[3])
if kinds > tonumber(ARGV[6]) then
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, kinds - tonumber(ARGV[6]) - 1)
end
-- the first example of the kind is kept; its lifetime follows the kind's
if redis.call('SET', KEYS[4], ARGV[7], 'NX', 'EX', 8 * 86400) == false then
  redis.call('EXPIRE', KEYS[4], 8 * 86400)
end
local result = (seen_before == 1 and 'known ' or 'new ') .. hour
redis.call('SET', KEYS[5], result, 'EX', ARGV[8])
return result
