-- Keeps a consumer's claim on entries it is still working on: resets their idle time so
-- that no other consumer claims them, without counting a new delivery. An entry another
-- consumer has claimed in the meantime is left to that consumer.
--
-- KEYS[1]: the stream (persists: it belongs to the application)
-- ARGV[1]: the group
-- ARGV[2]: the consumer
-- ARGV[3..n]: the entry ids
--
-- Returns the number of entries still held.
local kept = 0
for i = 3, #ARGV do
    local found = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
    if found[1] and found[1][2] == ARGV[2] then
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
        kept = kept + 1
    end
end
return kept
