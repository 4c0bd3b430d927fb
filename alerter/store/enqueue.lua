--#include ring
-- Every call of a batch of webhooks queued in one run: arq's job for each, unless the call's
-- job or result is already there (a duplicate). KEYS[1] is the queue and ARGV[1] the number
-- of calls; then, per call, its keys: job, result, its failure-rate rules' ended-call
-- counters, its flatline rules' group hashes, three per baseline counter (window, group
-- ring, fleet ring); and its ARGV: the number of counters, of groups, the job's expiry (ms),
-- payload, score, id, now (ms), the call id, the number of baseline counters, two per
-- counter (oldest score kept, expiry ms), three per group (group, labels, most groups a
-- rule keeps) and four per baseline counter (oldest score, expiry ms, ring slots, ring
-- expiry ms). Answers 1 (queued) or 0 (duplicate) per call, in order. Counters count a call
-- once however often it comes (a ring only when its window had not counted the call); a
-- group's last call is the newest webhook's.
local k, a = 2, 2
local queued = {}
for c = 1, tonumber(ARGV[1]) do
  local counters, groups = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local now, call_id = ARGV[a + 6], ARGV[a + 7]
  local baselines = tonumber(ARGV[a + 8])
  local at = a + 9
  for i = k + 2, k + 1 + counters do
    redis.call('ZADD', KEYS[i], now, call_id)
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[at])
    redis.call('PEXPIRE', KEYS[i], ARGV[at + 1])
    at = at + 2
  end
  for i = k + 2 + counters, k + 1 + counters + groups do
    -- A rule keeps at most ARGV[at + 2] groups: a new one past that is not watched.
    if redis.call('HEXISTS', KEYS[i], ARGV[at]) == 1
        or redis.call('HLEN', KEYS[i]) < tonumber(ARGV[at + 2]) then
      redis.call('HSET', KEYS[i], ARGV[at], now .. ' ' .. ARGV[at + 1])
    end
    at = at + 3
  end
  local hour = math.floor(tonumber(now) / 3600000)
  for i = k + 2 + counters + groups, k + 1 + counters + groups + 3 * baselines, 3 do
    if redis.call('ZADD', KEYS[i], now, call_id) == 1 then
      for _, ring in ipairs({KEYS[i + 1], KEYS[i + 2]}) do
        ring_add(ring, hour, tonumber(ARGV[at + 2]))
        redis.call('PEXPIRE', ring, ARGV[at + 3])
      end
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[at])
    redis.call('PEXPIRE', KEYS[i], ARGV[at + 1])
    at = at + 4
  end
  if redis.call('EXISTS', KEYS[k], KEYS[k + 1]) > 0 then
    queued[c] = 0
  else
    redis.call('PSETEX', KEYS[k], ARGV[a + 2], ARGV[a + 3])
    redis.call('ZADD', KEYS[1], ARGV[a + 4], ARGV[a + 5])
    queued[c] = 1
  end
  k = k + 2 + counters + groups + 3 * baselines
  a = at
end
return queued
