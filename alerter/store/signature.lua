-- A signature seen on a call: was it new (unseen for ARGV[4] seconds), and how many calls
-- carried it in the last hour. Day counts are capped (ARGV[6] signatures a day).
-- A call counted already (a retried job; another rule of the call) answers as it did first
-- (the decision key), counting nothing again: one already in the hour is found by ZADD NX.
if redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[3]) == 0 then
  local d = redis.call('GET', KEYS[5]); if d then return d end
end
-- The last call's time, read as it is replaced: new or known, and whether this call is the
-- first of its minute (or the first at all), which alone trims the hour and renews the
-- expiries of the calls and the example: once a minute a signature, not every call.
local last = redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4], 'GET')
if not last or math.floor(tonumber(last) / 60000) ~= math.floor(tonumber(ARGV[1]) / 60000) then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
  redis.call('EXPIRE', KEYS[2], 7200)
  -- the first example of the kind is kept; its lifetime follows the kind's
  if redis.call('SET', KEYS[4], ARGV[7], 'NX', 'EX', 8 * 86400) == false then
    redis.call('EXPIRE', KEYS[4], 8 * 86400)
  end
end
-- counted, not trimmed: what the last trim left older than the hour is not
local hour = redis.call('ZCOUNT', KEYS[2], '(' .. ARGV[2], '+inf')
-- a signature new to the day alone can grow the day's set or start it
if tonumber(redis.call('ZINCRBY', KEYS[3], 1, ARGV[5])) == 1 then
  redis.call('EXPIRE', KEYS[3], 8 * 86400)
  local kinds = redis.call('ZCARD', KEYS[3])
  if kinds > tonumber(ARGV[6]) then
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, kinds - tonumber(ARGV[6]) - 1)
  end
end
local result = ((last and 'known ') or 'new ') .. hour
local first = redis.call('SET', KEYS[5], result, 'NX', 'EX', ARGV[8], 'GET')
if not first then return result end
-- Counted more than an hour ago (gone from the hour since): this run's counts taken back.
redis.call('ZREM', KEYS[2], ARGV[3])
local left = last and tonumber(ARGV[4]) * 1000 - (tonumber(ARGV[1]) - tonumber(last))
if left and left > 0 then
  redis.call('SET', KEYS[1], last, 'PX', left)
else
  redis.call('DEL', KEYS[1])
end
if tonumber(redis.call('ZINCRBY', KEYS[3], -1, ARGV[5])) <= 0 then
  redis.call('ZREM', KEYS[3], ARGV[5])
end
return first
