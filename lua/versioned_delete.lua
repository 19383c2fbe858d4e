-- Deletes a versioned value, only when its version is the one the caller expects.
--
-- KEYS[1]: the value (a hash: "v" the version, "d" the data)
-- ARGV[1]: the expected version, or "" to delete whatever is stored
--
-- Returns {1, 0} when deleted, {0, the stored version} when not (0: absent).
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current == 0 then
    return {0, 0}
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
    return {0, current}
end
redis.call('DEL', KEYS[1])
return {1, 0}
