-- Raises a fencing counter to at least a given value (Redlock: after a quorum is reached,
-- every node held gets the quorum's token, so the next quorum, which shares a node with
-- this one, issues a larger token).
--
-- KEYS[1]: the fencing counter (persists on purpose: no TTL)
-- ARGV[1]: the floor
--
-- Returns the counter's value afterwards.
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if current < floor then
    redis.call('SET', KEYS[1], ARGV[1])
    return floor
end
return current
