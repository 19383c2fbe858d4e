-- Renews the leases of jobs a live worker holds, so that no other worker takes them.
--
-- KEYS: the queue's eight keys, in the order of queue_enqueue.lua; this one uses
-- KEYS[3]: running (a sorted set: id -> when its lease ends, server time in ms)
-- KEYS[6]: attempts (a hash: id -> how many times it was taken)
-- ARGV[1]: the lease, in ms from now
-- ARGV[2..]: pairs of id and attempt
--
-- Returns the ids whose lease was already lost (ran out and taken again, or cancelled).
local t = redis.call('TIME')
local until_ms = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
    local id = ARGV[i]
    if redis.call('HGET', KEYS[6], id) == ARGV[i + 1] and redis.call('ZSCORE', KEYS[3], id) then
        redis.call('ZADD', KEYS[3], until_ms, id)
    else
        lost[#lost + 1] = id
    end
end
return lost
