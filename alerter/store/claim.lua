-- Claim a queued job for this worker: arq's start of a job (WATCH, EXISTS, ZSCORE, MULTI,
-- PSETEX, EXEC: four round trips) as one atomic script. Returns the job's score, or false
-- when it runs elsewhere, left the queue, or was deferred since it was read.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then
  return false
end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
