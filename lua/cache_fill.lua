-- Ends a load: stores its entry only while the caller still holds the loading lease. A
-- set, delete or write that happened since removed the lease, so an older value loaded
-- before it never overwrites the newer state.
--
-- KEYS[1]: the entry
-- KEYS[2]: the loading lease (see cache_lease.lua)
-- KEYS[3]: the waiters flag (see cache_lease.lua)
-- ARGV[1]: the caller's token
-- ARGV[2]: the entry to store
-- ARGV[3]: its time to live in milliseconds, or "0" to store nothing (just end the load)
-- ARGV[4]: the channel waiters listen on
-- ARGV[5]: what to tell them: the entry, "none" (nothing found), or "" (load it yourselves)
--
-- Returns 1 when the lease was still held (and the entry stored), else 0.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return 0
end
redis.call('DEL', KEYS[2])
if ARGV[3] ~= '0' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
if redis.call('DEL', KEYS[3]) == 1 then
    redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return 1
