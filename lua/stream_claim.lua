-- Claims the pending entries of a consumer group that have been idle long enough, and says
-- how often each has now been delivered (XAUTOCLAIM says nothing of that, and on 6.2 it
-- returns trimmed entries without their ids).
--
-- KEYS[1]: the stream (persists: it belongs to the application)
-- ARGV[1]: the group
-- ARGV[2]: the consumer claiming
-- ARGV[3]: the minimum idle time, in milliseconds
-- ARGV[4]: the first entry id to look at ("-" for the start of the pending entries list)
-- ARGV[5]: the most entries to claim
-- ARGV[6]: the consumer whose entries to look at, or "" for every consumer
--
-- An entry whose data was trimmed away has nothing left to process: it is acknowledged.
-- Returns {cursor, {{id, {field, value, ...}, deliveries}, ...}}: the cursor is the last id
-- looked at, or "" once the end of the pending entries list was reached.
local pending
if ARGV[6] == '' then
    pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[4], '+', ARGV[5])
else
    pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], ARGV[4], '+', ARGV[5],
        ARGV[6])
end
local claimed = {}
local last = ''
for _, entry in ipairs(pending) do
    local id = entry[1]
    last = id
    local got = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
    if got[1] then
        claimed[#claimed + 1] = {id, got[1][2], entry[4] + 1}
    else
        redis.call('XACK', KEYS[1], ARGV[1], id)
    end
end
if #pending < tonumber(ARGV[5]) then
    last = ''
end
return {last, claimed}
