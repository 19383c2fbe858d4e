-- Reads a session and slides its idle expiry, in one step; a session past its absolute
-- lifetime is deleted instead.
--
-- KEYS[1]: the session (see session_create.lua)
-- ARGV[1]: the idle time to live in milliseconds
--
-- Returns nil when there is no live session, else {data, version, user, index}: index is a
-- new score for the user's index entry when the slide took the expiry past the old one
-- (the caller moves the entry), else 0.
local found = redis.call('HMGET', KEYS[1], 'd', 'v', 'u', 'a', 'i')
if not found[1] then
    return nil
end
local ttl = tonumber(ARGV[1])
local absolute = tonumber(found[4] or '0')
local index = tonumber(found[5] or '0')
local now = 0
if absolute > 0 or index > 0 then  -- the clock is read only when something depends on it
    local t = redis.call('TIME')
    now = t[1] * 1000 + math.floor(t[2] / 1000)
end
if absolute > 0 then
    if now >= absolute then
        redis.call('DEL', KEYS[1])
        return nil
    end
    ttl = math.min(ttl, absolute - now)
end
redis.call('PEXPIRE', KEYS[1], ttl)
if index > 0 and now + ttl > index then
    index = now + 2 * ttl
    redis.call('HSET', KEYS[1], 'i', index)
else
    index = 0
end
return {found[1], found[2], found[3] or '', index}
