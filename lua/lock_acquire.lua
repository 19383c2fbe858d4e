-- Takes a lock when it is free and issues the next fencing token.
--
-- KEYS[1]: the lock, a string holding the holder's token (TTL: the lease's ttl)
-- KEYS[2]: the fencing counter of this lock name; it persists on purpose (no TTL), so that
--          tokens keep increasing across expiries and restarts of the lock
-- KEYS[3]: tokens of acquisitions whose caller gave up (see lock_abandon.lua), a set
-- ARGV[1]: the new holder's token (random, unique per acquisition)
-- ARGV[2]: ttl in milliseconds
--
-- Returns {1, fencing token} when taken; {0, milliseconds the holder has left} when held by
-- another; {0, -1} when this token was abandoned before it arrived.
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
    return {0, -1}
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {1, redis.call('INCR', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
