-- Records that jobs finished, each ended one of three ways.
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
-- ARGV[1]: the most dead jobs kept (the oldest go first)
-- ARGV[2..]: groups of four: id, attempt, outcome, detail, where outcome is
--   "done"  the handler returned: the job is removed with everything about it;
--   "retry" it failed and runs again later: detail is "<delay in ms>|<why it failed>";
--   "dead"  it failed for good: it is kept as dead, detail is why;
--   "back"  it was given back: it goes to the front of the waiting list; detail "1" when
--           it never started (the attempt is not counted), "0" when it was interrupted.
--
-- Only the worker that holds a job's current attempt may end it: a job whose lease ran
-- out and was taken again is left to its new worker. A job done after its lease ran out
-- but before it was taken again is still removed (from waiting or dead).
-- Returns how many of the jobs this call ended.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ended = 0
local wake = false
local i = 2
while i <= #ARGV do
    local id, attempt, outcome, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    if redis.call('HGET', KEYS[6], id) == attempt then
        local held = redis.call('ZREM', KEYS[3], id) == 1
        if outcome == 'done' then
            if not held then
                redis.call('LREM', KEYS[1], 1, id)
                redis.call('ZREM', KEYS[4], id)
            end
            redis.call('HDEL', KEYS[5], id)
            redis.call('HDEL', KEYS[6], id)
            redis.call('HDEL', KEYS[7], id)
            ended = ended + 1
        elseif held then
            ended = ended + 1
            if outcome == 'retry' then
                local bar = string.find(detail, '|', 1, true)
                redis.call('ZADD', KEYS[2], now + tonumber(string.sub(detail, 1, bar - 1)), id)
                redis.call('HSET', KEYS[7], id, string.sub(detail, bar + 1))
            elseif outcome == 'dead' then
                redis.call('ZADD', KEYS[4], now, id)
                redis.call('HSET', KEYS[7], id, detail)
            else
                if detail == '1' then
                    redis.call('HINCRBY', KEYS[6], id, -1)
                end
                redis.call('RPUSH', KEYS[1], id)
                wake = true
            end
        end
    end
end
local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[1])
if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do
        redis.call('HDEL', KEYS[5], id)
        redis.call('HDEL', KEYS[6], id)
        redis.call('HDEL', KEYS[7], id)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
end
if wake and redis.call('LLEN', KEYS[8]) == 0 then
    redis.call('LPUSH', KEYS[8], '1')
end
return ended
