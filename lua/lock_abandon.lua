-- Cleans up after an acquisition whose caller was cancelled mid-flight: releases the lock
-- if that acquisition took it, and otherwise records the token so that the acquisition,
-- should it still arrive, refuses instead of taking a lock nobody would release.
--
-- KEYS[1]: the lock
-- KEYS[2]: tokens of abandoned acquisitions, a set (TTL: the lease's ttl)
-- ARGV[1]: the abandoned token
-- ARGV[2]: ttl in milliseconds: after that an acquisition still in flight is moot
-- ARGV[3]: the channel waiters listen on for this lock
--
-- Returns 1 when a lock taken by that token was released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('PUBLISH', ARGV[3], '')
    return 1
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
