-- Renews a flusher's lease on a write-behind shard, if it still holds it.
--
-- KEYS[1]: the shard's lease (expires after ARGV[2] ms unless renewed)
-- ARGV[1]: the flusher's token
-- ARGV[2]: the lease's length in milliseconds
--
-- Returns 1 when renewed, 0 when the lease belongs to someone else or lapsed.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
