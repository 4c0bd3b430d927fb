-- Delete the claim only while it is still ours (a lease may have passed to another sender).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
