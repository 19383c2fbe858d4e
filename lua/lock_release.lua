-- Releases a lock held by the given token and wakes the waiters.
--
-- KEYS[1]: the lock
-- ARGV[1]: the holder's token
-- ARGV[2]: the channel waiters listen on for this lock
--
-- Returns 1 when released, 0 when the lock was no longer held by this token.
-- Creates no key.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('PUBLISH', ARGV[2], '')
    return 1
end
return 0
