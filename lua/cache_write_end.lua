-- Ends a write-through write. A write that overlapped no other stores its value; when
-- writes overlapped, the database's order is unknown here, so the entry is deleted and the
-- next read loads whichever value won. Either way a load in progress is refused.
--
-- KEYS[1]: the entry
-- KEYS[2]: the loading lease (see cache_lease.lua)
-- KEYS[3]: the waiters flag (see cache_lease.lua)
-- KEYS[4]: the key's write state (see cache_write_begin.lua)
-- ARGV[1]: this write's sequence number
-- ARGV[2]: "1" if another write was in progress when it began, else "0"
-- ARGV[3]: "1" if the database write succeeded, "0" if it failed (the cache is left as is)
-- ARGV[4]: the entry to store
-- ARGV[5]: its time to live in milliseconds
-- ARGV[6]: the channel waiters of a load in progress listen on
--
-- Returns 1 when the entry was stored, 0 when deleted or left alone.
local active = redis.call('HINCRBY', KEYS[4], 'active', -1)
local latest = tonumber(redis.call('HGET', KEYS[4], 'seq'))
if active <= 0 then
    redis.call('DEL', KEYS[4])
end
if ARGV[3] ~= '1' then
    return 0
end
redis.call('DEL', KEYS[2])
local alone = ARGV[2] == '0' and latest == tonumber(ARGV[1])
local told = ''
if alone then
    redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
    told = ARGV[4]
else
    redis.call('DEL', KEYS[1])
end
if redis.call('DEL', KEYS[3]) == 1 then
    redis.call('PUBLISH', ARGV[6], told)
end
return alone and 1 or 0
