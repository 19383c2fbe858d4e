-- Creates a session under the SHA-256 of its id (the id itself never reaches Redis).
--
-- KEYS[1]: the session (a hash: "d" data, "u" user, "a" absolute deadline in ms or 0,
--          "v" version, "i" the score of its user's index entry, or 0: at least its
--          expiry, so that pruning the index never drops a live session)
-- ARGV[1]: the data
-- ARGV[2]: the user, or "" for none
-- ARGV[3]: the idle time to live in milliseconds
-- ARGV[4]: the absolute lifetime in milliseconds, or "0" for none
--
-- Returns the score for its user's index entry (server time, ms; 0 without a user).
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ttl = tonumber(ARGV[3])
local absolute = 0
if ARGV[4] ~= '0' then
    absolute = now + tonumber(ARGV[4])
    ttl = math.min(ttl, tonumber(ARGV[4]))
end
-- with sliding expiry the entry gets a ttl of headroom, so that reads seldom move it
local index = 0
if ARGV[2] ~= '' then
    index = absolute > 0 and absolute or now + 2 * ttl
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'u', ARGV[2], 'a', absolute, 'v', 1, 'i', index)
redis.call('PEXPIRE', KEYS[1], ttl)
return index
