-- Takes a lock when it is free and nobody is queued ahead, and issues the next fencing
-- token. A caller that has to wait can queue: waiters are served first come, first served,
-- the lock being handed straight to the first live one on release (see lock_release.lua).
--
-- KEYS[1]: the lock, a string holding the holder's token (TTL: the lease's ttl)
-- KEYS[2]: the fencing counter of this lock name; it persists on purpose (no TTL), so that
--          tokens keep increasing across expiries and restarts of the lock
-- KEYS[3]: tokens of acquisitions whose caller gave up (see lock_abandon.lua), a set
-- KEYS[4]: the waiters in arrival order, a sorted set of "<token>:<ttl ms>" scored by
--          arrival (TTL: refreshed by the waiters)
-- KEYS[5]: the waiters' liveness, the same members scored by the server time (ms) after
--          which a waiter that has not tried again counts as gone (TTL: refreshed)
-- ARGV[1]: the caller's token (random, unique per acquisition)
-- ARGV[2]: ttl in milliseconds
-- ARGV[3]: when the lock cannot be taken: milliseconds to stay queued without trying
--          again, or 0 (or absent) not to queue
--
-- Returns {1, fencing token} when taken (or already handed to this token); {0, most
-- milliseconds to wait} when not; {0, -1} when this token was abandoned before it arrived.
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
    return {0, -1}
end
local member = ARGV[1] .. ':' .. ARGV[2]
local stay = tonumber(ARGV[3] or '0')
if redis.call('EXISTS', KEYS[4]) == 0 then
    -- nobody waits: the plain path
    if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
        return {1, redis.call('INCR', KEYS[2])}
    end
    if stay == 0 then
        return {0, math.max(1, redis.call('PTTL', KEYS[1]))}
    end
end
if stay > 0 and redis.call('GET', KEYS[1]) == ARGV[1] then
    return {1, tonumber(redis.call('GET', KEYS[2]))}  -- handed to us by a release
end
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(now_us / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
if #gone > 0 then
    redis.call('ZREM', KEYS[4], unpack(gone))
    redis.call('ZREM', KEYS[5], unpack(gone))
end
local head = redis.call('ZRANGE', KEYS[4], 0, 0)
if (#head == 0 or head[1] == member) and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    redis.call('ZREM', KEYS[4], member)
    redis.call('ZREM', KEYS[5], member)
    return {1, redis.call('INCR', KEYS[2])}
end
if stay > 0 then
    redis.call('ZADD', KEYS[4], 'NX', now_us, member)
    redis.call('ZADD', KEYS[5], now + stay, member)
    redis.call('PEXPIRE', KEYS[4], stay * 2)
    redis.call('PEXPIRE', KEYS[5], stay * 2)
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
    -- free, but another waiter's turn: wait for it, or for it to count as gone
    local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    left = 1
    if #first > 0 then left = math.max(1, tonumber(first[2]) - now) end
end
return {0, left}
