-- Writes a session's data, only while it lives (never reviving one), optionally only at
-- the version the caller read (compare-and-set), and slides its idle expiry.
--
-- KEYS[1]: the session (see session_create.lua)
-- ARGV[1]: the data
-- ARGV[2]: the expected version, or "" to write whatever it holds
-- ARGV[3]: the idle time to live in milliseconds
--
-- Returns {1, the new version} when written, {0, the stored version} on a version
-- mismatch, {0, 0} when the session is gone.
local found = redis.call('HMGET', KEYS[1], 'v', 'a')
if not found[1] then
    return {0, 0}
end
local absolute = tonumber(found[2] or '0')
local now = 0
if absolute > 0 then  -- the clock is read only when a lifetime depends on it
    local t = redis.call('TIME')
    now = t[1] * 1000 + math.floor(t[2] / 1000)
    if now >= absolute then
        redis.call('DEL', KEYS[1])
        return {0, 0}
    end
end
local version = tonumber(found[1])
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= version then
    return {0, version}
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', version + 1)
local ttl = tonumber(ARGV[3])
if absolute > 0 then
    ttl = math.min(ttl, absolute - now)
end
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, version + 1}
