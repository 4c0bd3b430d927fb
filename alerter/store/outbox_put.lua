-- Sends put in the outbox: an arq job each on the queue (KEYS[1]), unless that send's job
-- is already there (queued, or running: a decision run twice). Its job key is written with
-- SET NX, arq's EXISTS and PSETEX in one command; a send's job keeps no result (its
-- function's keep_result is 0), so no result key is looked for. The first ARGV[4] sends are
-- also claimed for the worker that puts them, as claim.lua claims a polled job (its
-- in-progress lock, its try counted): it runs them at once, without a poll, a claim or a
-- read of what it just wrote.
-- KEYS: the queue, then per send its job, in-progress and retry keys. ARGV: the job's expiry
-- (ms), its score, the lock's life (ms), how many sends to claim, then per send its job id
-- and payload. Answers per send: 0 not queued (already there), -1 queued, else queued and
-- claimed, the answer its try.
local answers = {}
local claims = tonumber(ARGV[4])
for i = 1, (#KEYS - 1) / 3 do
  local job, in_progress, retry = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local answer = 0
  if redis.call('SET', job, ARGV[4 + 2 * i], 'PX', ARGV[1], 'NX') then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3 + 2 * i])
    answer = -1
    if i <= claims and redis.call('SET', in_progress, '1', 'PX', ARGV[3], 'NX') then
      -- as claim.lua: a first try in one command, a later one keeps its first expiry
      answer = 1
      if not redis.call('SET', retry, '1', 'EX', 88400, 'NX') then
        answer = redis.call('INCR', retry)
      end
    end
  end
  answers[i] = answer
end
return answers
