-- Takes up to ARGV[1] jobs for a worker, leasing each until ARGV[2] ms from now.
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
-- ARGV[1]: how many jobs to take (0 to only move due and expired jobs)
-- ARGV[2]: the lease, in ms (the queue's visibility timeout)
-- ARGV[3]: max attempts: a job whose lease ran out on its last attempt is dead
-- ARGV[4]: the most dead jobs kept (the oldest go first)
--
-- First, delayed jobs that are due join the waiting list, and jobs whose lease ran out
-- (their worker stopped renewing it: it died, or lost Redis) go back to its front.
-- Returns {taken, next}: taken is a flat list of id, attempt, data, last error for each
-- job taken; next is the ms until the next delayed job is due, or -1 for none.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local count, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_attempts, max_dead = tonumber(ARGV[3]), tonumber(ARGV[4])

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
    redis.call('ZREM', KEYS[2], id)
    redis.call('LPUSH', KEYS[1], id)
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(expired) do
    redis.call('ZREM', KEYS[3], id)
    if tonumber(redis.call('HGET', KEYS[6], id) or '0') >= max_attempts then
        redis.call('HSET', KEYS[7], id, 'its worker stopped during the last attempt (lease expired)')
        redis.call('ZADD', KEYS[4], now, id)
    else
        redis.call('RPUSH', KEYS[1], id)
    end
end
local over = redis.call('ZCARD', KEYS[4]) - max_dead
if over > 0 then
    for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do
        redis.call('HDEL', KEYS[5], id)
        redis.call('HDEL', KEYS[6], id)
        redis.call('HDEL', KEYS[7], id)
    end
    redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
end

local taken = {}
if count > 0 then
    local ids = redis.call('RPOP', KEYS[1], count)
    if ids then
        for _, id in ipairs(ids) do
            local data = redis.call('HGET', KEYS[5], id)
            if data then
                local attempt = redis.call('HINCRBY', KEYS[6], id, 1)
                redis.call('ZADD', KEYS[3], now + lease, id)
                taken[#taken + 1] = id
                taken[#taken + 1] = attempt
                taken[#taken + 1] = data
                taken[#taken + 1] = redis.call('HGET', KEYS[7], id) or ''
            end
        end
    end
end

-- a token stays for the next idle worker only while jobs are left waiting
if redis.call('LLEN', KEYS[1]) > 0 then
    if redis.call('LLEN', KEYS[8]) == 0 then
        redis.call('LPUSH', KEYS[8], '1')
    end
else
    redis.call('DEL', KEYS[8])
end
local next = -1
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[2] then
    next = math.max(0, tonumber(first[2]) - now)
end
return {taken, next}
