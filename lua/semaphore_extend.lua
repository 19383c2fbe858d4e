-- Gives a held permit a new ttl, counted from now on the server's clock.
--
-- KEYS[1]: the holders (see semaphore_acquire.lua)
-- ARGV[1]: the holder's token
-- ARGV[2]: the new ttl in milliseconds
--
-- Returns 1 when extended, 0 when the permit had expired or was never held.
-- Creates no key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) <= now then
    return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
