-- Pushes items onto a feed, newest first, and trims it to its length, in one step.
--
-- KEYS[1]: the feed (a list, newest at the head)
-- ARGV[1]: the longest the feed may be
-- ARGV[2]: the feed's time to live in milliseconds, or "0" to keep it forever
-- ARGV[3..]: the items, oldest first (the last is the newest)
--
-- Returns the feed's length after the trim.
redis.call('LPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if ARGV[2] ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('LLEN', KEYS[1])
