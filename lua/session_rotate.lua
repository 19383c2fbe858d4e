-- Moves a session to a new id in one step: the old key is gone when the new one exists.
-- Both keys share a hash slot (the new id was drawn so that they do).
--
-- KEYS[1]: the old session (see session_create.lua)
-- KEYS[2]: the new one
-- ARGV[1]: the idle time to live in milliseconds
-- ARGV[2]: a user to give the session (at login), or "" to keep its own
--
-- Returns nil when the old session is gone, else {the user, the score of the user's
-- index entry for the new key (0 without a user)}.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local found = redis.call('HMGET', KEYS[1], 'a', 'u')
if not found[2] then
    return nil
end
local absolute = tonumber(found[1] or '0')
if absolute > 0 and now >= absolute then
    redis.call('DEL', KEYS[1])
    return nil
end
redis.call('RENAME', KEYS[1], KEYS[2])
if ARGV[2] ~= '' then
    found[2] = ARGV[2]
    redis.call('HSET', KEYS[2], 'u', ARGV[2])
end
local ttl = tonumber(ARGV[1])
if absolute > 0 then
    ttl = math.min(ttl, absolute - now)
end
local index = 0
if found[2] ~= '' then
    index = absolute > 0 and absolute or now + 2 * ttl
    redis.call('HSET', KEYS[2], 'i', index)
end
redis.call('PEXPIRE', KEYS[2], ttl)
return {found[2], index}
