-- Releases a lock held by the given token; when waiters are queued, hands the lock straight
-- to the first live one (with its own ttl and the next fencing token) and tells it.
--
-- KEYS[1]: the lock
-- KEYS[2]: the fencing counter (see lock_acquire.lua)
-- KEYS[3]: the waiters in arrival order (see lock_acquire.lua)
-- KEYS[4]: the waiters' liveness (see lock_acquire.lua)
-- ARGV[1]: the holder's token
-- ARGV[2]: the prefix of the waiters' channels: each waiter listens on "<prefix>:<token>"
--
-- Publishes "<token> <fencing token>" on the channel of the waiter now holding the lock.
-- Returns 1 when released, 0 when the lock was no longer held by this token.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
    return 0
end
if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('DEL', KEYS[1])
    return 1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now)
if #gone > 0 then
    redis.call('ZREM', KEYS[3], unpack(gone))
    redis.call('ZREM', KEYS[4], unpack(gone))
end
local head = redis.call('ZRANGE', KEYS[3], 0, 0)
if #head == 0 then
    redis.call('DEL', KEYS[1])
    return 1
end
local sep = string.find(head[1], ':', 1, true)
local token = string.sub(head[1], 1, sep - 1)
redis.call('SET', KEYS[1], token, 'PX', string.sub(head[1], sep + 1))
redis.call('ZREM', KEYS[3], head[1])
redis.call('ZREM', KEYS[4], head[1])
redis.call('PUBLISH', ARGV[2] .. ':' .. token, token .. ' ' .. redis.call('INCR', KEYS[2]))
return 1
