-- Writes a value (or deletes it) and queues the change for the database, atomically: a
-- crash can never leave one without the other.
--
-- KEYS[1]: the value (expires after ARGV[4] ms)
-- KEYS[2]: the queue of its shard, a stream (persists: it is the durable queue; flushers
--          trim what the database has taken)
-- ARGV[1]: the key as the application names it
-- ARGV[2]: "set" or "del"
-- ARGV[3]: the serialized value ("" for a deletion)
-- ARGV[4]: the value's time to live in milliseconds
--
-- Returns the queue entry's id.
if ARGV[2] == 'set' then
    redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
    redis.call('DEL', KEYS[1])
end
return redis.call('XADD', KEYS[2], '*', 'k', ARGV[1], 'o', ARGV[2], 'v', ARGV[3])
