-- Enqueues a job, once per id: an id already waiting, delayed or running is left alone.
--
-- A queue's keys share one hash tag (one slot); every queue script takes all eight,
-- in this order, and uses those listed.
-- KEYS[1]: waiting (a list of ids: pushed on the left, taken from the right)
-- KEYS[2]: delayed (a sorted set: id -> when it is due, server time in ms)
-- (KEYS[3], running, a sorted set: id -> when its lease ends, server time in ms: unused)
-- KEYS[4]: dead (a sorted set: id -> when it died, server time in ms)
-- KEYS[5]: data (a hash: id -> the encoded job)
-- KEYS[6]: attempts (a hash: id -> how many times it was taken)
-- KEYS[7]: errors (a hash: id -> why its last run failed)
-- KEYS[8]: wake (a list holding at most one token: BLPOP'd by idle workers)
-- ARGV[1]: the job id
-- ARGV[2]: the encoded job
-- ARGV[3]: the delay in ms, or "0" to wait for a worker now
--
-- Returns 1 when the job was enqueued, 0 when its id was already queued.
local id = ARGV[1]
if redis.call('HSETNX', KEYS[5], id, ARGV[2]) == 0 then
    if not redis.call('ZSCORE', KEYS[4], id) then
        return 0
    end
    -- a dead job's id starts over as a new job
    redis.call('ZREM', KEYS[4], id)
    redis.call('HSET', KEYS[5], id, ARGV[2])
    redis.call('HDEL', KEYS[6], id)
    redis.call('HDEL', KEYS[7], id)
end
local delay = tonumber(ARGV[3])
if delay > 0 then
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[2], t[1] * 1000 + math.floor(t[2] / 1000) + delay, id)
else
    redis.call('LPUSH', KEYS[1], id)
end
-- wake one idle worker (it takes what it can, and wakes the next if more is left)
if redis.call('LLEN', KEYS[8]) == 0 then
    redis.call('LPUSH', KEYS[8], '1')
end
return 1
