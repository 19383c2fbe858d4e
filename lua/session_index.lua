-- Keeps a user's index of sessions (for ending them all): records or moves one session's
-- entry, and drops the entries of sessions that have expired, so it never grows unbounded.
--
-- KEYS[1]: the user's index (a sorted set: a session's key digest, scored by the latest
--          time it can expire)
-- ARGV[1]: the digest to add or move to, or "" for none
-- ARGV[2]: its deadline (server time, ms)
-- ARGV[3]: a digest to remove (a rotated session's old one), or ""
--
-- The index expires with its last session.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[3] ~= '' then
    redis.call('ZREM', KEYS[1], ARGV[3])
end
if ARGV[1] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
    redis.call('PEXPIREAT', KEYS[1], last[2])
end
return redis.call('ZCARD', KEYS[1])
