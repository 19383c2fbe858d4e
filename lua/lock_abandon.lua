-- Cleans up after an acquisition whose caller gave up (cancelled mid-flight, or its
-- blocking timeout passed): leaves the queue of waiters, releases the lock if that
-- acquisition took it or was handed it, and otherwise records the token so that the
-- acquisition, should it still arrive, refuses. When the lock is free and waiters are
-- queued, the first of them is woken to try again.
--
-- KEYS[1]: the lock
-- KEYS[2]: tokens of abandoned acquisitions, a set (TTL: the lease's ttl)
-- KEYS[3]: the waiters in arrival order (see lock_acquire.lua)
-- KEYS[4]: the waiters' liveness (see lock_acquire.lua)
-- ARGV[1]: the abandoned token
-- ARGV[2]: ttl in milliseconds (of the lease, and of the queue entry to remove)
-- ARGV[3]: the prefix of the waiters' channels: each waiter listens on "<prefix>:<token>"
--
-- Returns 1 when a lock taken by (or handed to) that token was released, 0 otherwise.
local member = ARGV[1] .. ':' .. ARGV[2]
redis.call('ZREM', KEYS[3], member)
redis.call('ZREM', KEYS[4], member)
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    released = 1
else
    redis.call('SADD', KEYS[2], ARGV[1])
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
    local head = redis.call('ZRANGE', KEYS[3], 0, 0)
    if #head > 0 then
        local sep = string.find(head[1], ':', 1, true)
        redis.call('PUBLISH', ARGV[3] .. ':' .. string.sub(head[1], 1, sep - 1), '')
    end
end
return released
