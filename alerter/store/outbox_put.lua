-- Sends put in the outbox: an arq job each on the queue (KEYS[1]), unless that send's job
-- or its result is already there (queued, running, or put there by an earlier run of the
-- same decision). KEYS: the queue, then per send its job key and result key. ARGV: the
-- job's expiry (ms), its score, then per send its job id and payload. Answers how many
-- were queued.
local queued = 0
for i = 1, (#KEYS - 1) / 2 do
  if redis.call('EXISTS', KEYS[2 * i], KEYS[2 * i + 1]) == 0 then
    redis.call('PSETEX', KEYS[2 * i], ARGV[1], ARGV[2 + 2 * i])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1 + 2 * i])
    queued = queued + 1
  end
end
return queued
