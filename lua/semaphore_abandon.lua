-- Cleans up after an acquisition whose caller was cancelled mid-flight: gives back the
-- permit if that acquisition took one, and otherwise records the token so that the
-- acquisition, should it still arrive, refuses.
--
-- KEYS[1]: the holders (see semaphore_acquire.lua)
-- KEYS[2]: tokens of abandoned acquisitions, a set (TTL: the lease's ttl)
-- ARGV[1]: the abandoned token
-- ARGV[2]: ttl in milliseconds
-- ARGV[3]: the channel waiters listen on
--
-- Returns 1 when a permit taken by that token was given back, 0 otherwise.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
    redis.call('PUBLISH', ARGV[3], '')
    return 1
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
