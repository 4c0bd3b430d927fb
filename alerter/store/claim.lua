-- Claim queued jobs for this worker, many in one script: arq's start of a job (WATCH,
-- EXISTS, ZSCORE, MULTI, PSETEX, EXEC; here SET NX and ZSCORE) and its first read of the
-- job (GET, INCR, EXPIRE of the try counter; here SET NX, or INCR after the first) for
-- each, atomically. KEYS: the queue, then per job its in-progress,
-- job and retry keys; ARGV: now (ms), the lock's life (ms), then the job ids.
-- Returns per job {score, job, try}, or {false} when it runs elsewhere, left the queue, or
-- was deferred since it was read.
local claimed = {}
for i = 3, #ARGV do
  local at = 2 + (i - 3) * 3
  local in_progress, job, retry = KEYS[at], KEYS[at + 1], KEYS[at + 2]
  local score = false
  -- The lock first (SET NX: arq's EXISTS and PSETEX in one command), given back in the rare
  -- case the job left the queue or was deferred since the poll read it.
  if redis.call('SET', in_progress, '1', 'PX', ARGV[2], 'NX') then
    score = redis.call('ZSCORE', KEYS[1], ARGV[i])
    if not score or tonumber(score) > tonumber(ARGV[1]) then
      score = false
      redis.call('DEL', in_progress)
    end
  end
  if score then
    -- arq's INCR and EXPIRE of the try counter; a first try (most) in one command, a later
    -- one keeps the expiry its first try set.
    local tries = 1
    if not redis.call('SET', retry, '1', 'EX', 88400, 'NX') then
      tries = redis.call('INCR', retry)
    end
    claimed[#claimed + 1] = {score, redis.call('GET', job) or false, tries}
  else
    claimed[#claimed + 1] = {false}
  end
end
return claimed
