-- Takes one of a semaphore's permits when one is free (expired permits are freed first).
--
-- KEYS[1]: the holders, a sorted set of tokens scored by their expiry in server
--          milliseconds (TTL: the latest expiry)
-- KEYS[2]: the fencing counter of this name; it persists on purpose (no TTL)
-- KEYS[3]: tokens of acquisitions whose caller gave up, a set (see semaphore_abandon.lua)
-- ARGV[1]: the new holder's token
-- ARGV[2]: ttl in milliseconds
-- ARGV[3]: the number of permits
--
-- Returns {1, fencing token} when taken; {0, milliseconds until the first permit expires}
-- when all are held; {0, -1} when this token was abandoned before it arrived.
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
    return {0, -1}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
    if redis.call('PTTL', KEYS[1]) < ttl then
        redis.call('PEXPIRE', KEYS[1], ttl)
    end
    return {1, redis.call('INCR', KEYS[2])}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(first[2]) - now)}
