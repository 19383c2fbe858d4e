-- Cancels a job wherever it is: waiting, delayed, running (its handler is not stopped,
-- but it will not run again) or dead.
--
-- KEYS: the queue's eight keys, in the order of queue_enqueue.lua; this one uses
-- KEYS[1]: waiting (a list of ids: pushed on the left, taken from the right)
-- KEYS[2]: delayed (a sorted set: id -> when it is due, server time in ms)
-- KEYS[3]: running (a sorted set: id -> when its lease ends, server time in ms)
-- KEYS[4]: dead (a sorted set: id -> when it died, server time in ms)
-- KEYS[5]: data (a hash: id -> the encoded job)
-- KEYS[6]: attempts (a hash: id -> how many times it was taken)
-- KEYS[7]: errors (a hash: id -> why its last run failed)
-- KEYS[8]: wake (a list holding at most one token: BLPOP'd by idle workers)
-- ARGV[1]: the job id
--
-- Returns 1 when the job was found, 0 when there was none by that id.
local id = ARGV[1]
if redis.call('HDEL', KEYS[5], id) == 0 then
    return 0
end
redis.call('LREM', KEYS[1], 0, id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[6], id)
redis.call('HDEL', KEYS[7], id)
if redis.call('LLEN', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[8])  -- no job left to wake a worker for
end
return 1
