-- Gives a held lock a new ttl, counted from now.
--
-- KEYS[1]: the lock
-- ARGV[1]: the holder's token
-- ARGV[2]: the new ttl in milliseconds
--
-- Returns 1 when extended, 0 when the lock was no longer held by this token.
-- Creates no key.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
