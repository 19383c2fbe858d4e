-- Reads the current version of each tag, giving a tag seen for the first time a fresh one,
-- and keeps every tag alive as long as an entry written now could live.
--
-- KEYS[1..n]: the tags' version keys (all in the namespace's one tag slot)
-- ARGV[1]: how long a tag outlives its last use, in milliseconds (the longest entry ttl)
-- ARGV[2..n+1]: a fresh version for each tag, used when it has none
--
-- A tag version is an opaque unique token, never a counter: a tag key that is evicted or
-- expires comes back with a new token, so no older entry can match it again.
-- Returns the versions, in the order of KEYS.
local versions = {}
for i = 1, #KEYS do
    local version = redis.call('GET', KEYS[i])
    if version then
        redis.call('PEXPIRE', KEYS[i], ARGV[1])
    else
        version = ARGV[i + 1]
        redis.call('SET', KEYS[i], version, 'PX', ARGV[1])
    end
    versions[i] = version
end
return versions
