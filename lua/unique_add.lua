-- Adds items to one time bucket's HyperLogLog and keeps the bucket alive for its ttl.
--
-- KEYS[1]: the bucket (a HyperLogLog)
-- ARGV[1]: the bucket's time to live in milliseconds
-- ARGV[2..]: the items
--
-- Returns 1 when the estimate changed, else 0.
local changed = redis.call('PFADD', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return changed
