-- Reads dead jobs, oldest first, or brings them back to the waiting list.
--
-- KEYS: the queue's eight keys, in the order of queue_enqueue.lua; this one uses
-- KEYS[1]: waiting (a list of ids: pushed on the left, taken from the right)
-- KEYS[4]: dead (a sorted set: id -> when it died, server time in ms)
-- KEYS[5]: data (a hash: id -> the encoded job)
-- KEYS[6]: attempts (a hash: id -> how many times it was taken)
-- KEYS[7]: errors (a hash: id -> why its last run failed)
-- KEYS[8]: wake (a list holding at most one token: BLPOP'd by idle workers)
-- ARGV[1]: how many, at most
-- ARGV[2]: "read" or "retry" (a retried job starts again at attempt 1; its last error stays)
--
-- "read" returns a flat list of id, attempts, data, error; "retry" the number brought back.
local ids = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[1]) - 1)
if ARGV[2] == 'read' then
    local found = {}
    for _, id in ipairs(ids) do
        found[#found + 1] = id
        found[#found + 1] = redis.call('HGET', KEYS[6], id) or '0'
        found[#found + 1] = redis.call('HGET', KEYS[5], id) or ''
        found[#found + 1] = redis.call('HGET', KEYS[7], id) or ''
    end
    return found
end
for _, id in ipairs(ids) do
    redis.call('ZREM', KEYS[4], id)
    redis.call('HDEL', KEYS[6], id)
    redis.call('LPUSH', KEYS[1], id)
end
if #ids > 0 and redis.call('LLEN', KEYS[8]) == 0 then
    redis.call('LPUSH', KEYS[8], '1')
end
return #ids
