-- Sets or deletes an entry on the caller's word, ending any load in progress: the loader's
-- value, older than this write, is then refused by cache_fill.lua.
--
-- KEYS[1]: the entry
-- KEYS[2]: the loading lease (see cache_lease.lua)
-- KEYS[3]: the waiters flag (see cache_lease.lua)
-- ARGV[1]: the entry to store
-- ARGV[2]: its time to live in milliseconds, or "0" to delete the entry
-- ARGV[3]: the channel waiters of a load in progress listen on
--
-- Returns 1.
redis.call('DEL', KEYS[2])
if ARGV[2] ~= '0' then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
    redis.call('DEL', KEYS[1])
end
if redis.call('DEL', KEYS[3]) == 1 then
    redis.call('PUBLISH', ARGV[3], ARGV[2] ~= '0' and ARGV[1] or '')
end
return 1
