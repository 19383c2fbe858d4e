-- Gives back a semaphore permit and wakes the waiters.
--
-- KEYS[1]: the holders (see semaphore_acquire.lua)
-- ARGV[1]: the holder's token
-- ARGV[2]: the channel waiters listen on
--
-- Returns 1 when released, 0 when the permit had expired or was never held.
-- Creates no key.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) > now then
    redis.call('PUBLISH', ARGV[2], '')
    return 1
end
return 0
