-- On a miss: answers the entry if it appeared meanwhile, else takes the loading lease, so
-- that one caller among all processes calls the loader.
--
-- KEYS[1]: the entry
-- KEYS[2]: the loading lease (expires after ARGV[2] ms)
-- KEYS[3]: the flag saying someone waits for this load (expires with the lease)
-- ARGV[1]: the caller's token
-- ARGV[2]: how long the lease lasts, in milliseconds
-- ARGV[3]: "1" to take the lease even though an entry exists (it is corrupt, invalidated
--          by a tag, or being refreshed early), else "0"
-- ARGV[4]: "1" when the caller will wait for another's load if the lease is taken, else "0"
--
-- Returns {entry or nil, 1 when this call took the lease, else 0}.
if ARGV[3] ~= '1' then
    local entry = redis.call('GET', KEYS[1])
    if entry then
        return {entry, 0}
    end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return {false, 1}
end
if ARGV[4] == '1' then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
end
return {false, 0}
