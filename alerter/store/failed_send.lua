-- A send that gave up, added to its call's failed record (KEYS[1]: the failed hash) with
-- any other send of that call that gave up; the same send again replaces itself. ARGV: the
-- call id, the call (JSON), the send (JSON: rule, destination, reason, job_id, payload),
-- now, tries. The record's reason lists every failed send's reason.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local record = raw and cjson.decode(raw) or nil
if not record or record.kind ~= 'delivery' or type(record.sends) ~= 'table' then
  record = {call = cjson.decode(ARGV[2]), kind = 'delivery', sends = {}, attempts = 0}
end
local send = cjson.decode(ARGV[3])
local kept = {}
for _, one in ipairs(record.sends) do
  if one.job_id ~= send.job_id then
    table.insert(kept, one)
  end
end
table.insert(kept, send)
local reasons = {}
for _, one in ipairs(kept) do
  table.insert(reasons, one.reason)
end
record.sends = kept
record.reason = table.concat(reasons, '; ')
record.at = tonumber(ARGV[4])
record.attempts = math.max(tonumber(record.attempts) or 0, tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return #kept
