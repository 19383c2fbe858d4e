-- Compare-and-set of a versioned value: writes only when the stored version is the one
-- the caller expects, and counts the version up by one.
--
-- KEYS[1]: the value (a hash: "v" the version, "d" the data)
-- ARGV[1]: the expected version ("0": absent), or "" to write whatever is stored
-- ARGV[2]: the data
-- ARGV[3]: the value's time to live in milliseconds, or "0" to keep it forever
--
-- Returns {1, the new version} when written, {0, the stored version} when not.
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
    return {0, current}
end
redis.call('HSET', KEYS[1], 'v', current + 1, 'd', ARGV[2])
if ARGV[3] ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return {1, current + 1}
