local d = redis.call('GET', KEYS[2]); if d then return d end
local window = redis.call('HGET', KEYS[1], 'window')
local opened = '0'
if not window then
  window = ARGV[2]
  opened = '1'
  redis.call('HSET', KEYS[1], 'window', window, 'opened', ARGV[1], 'labels', ARGV[8])
end
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
if n <= tonumber(ARGV[6]) then redis.call('HSET', KEYS[1], 'c:' .. n, ARGV[3]) end
-- counts by event (e:) and failure reason (r:), at most ARGV[9] distinct of each
for i = 4, 5 do
  if ARGV[i] ~= '' then
    local prefix = (i == 4) and 'e:' or 'r:'
    local field = prefix .. ARGV[i]
    if redis.call('HEXISTS', KEYS[1], field) == 1 then
      redis.call('HINCRBY', KEYS[1], field, 1)
    elseif redis.call('HINCRBY', KEYS[1], 'kinds-' .. prefix, 0) < tonumber(ARGV[9]) then
      redis.call('HINCRBY', KEYS[1], 'kinds-' .. prefix, 1)
      redis.call('HINCRBY', KEYS[1], field, 1)
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[10])
local result = window .. ' ' .. opened .. ' ' .. n
redis.call('SET', KEYS[2], result, 'EX', ARGV[7])
return result
