-- Writes a member's score and refreshes the board's time to live, in one step.
--
-- KEYS[1]: the board (a sorted set)
-- ARGV[1]: "set" (replace the score), "incr" (add to it; a new member starts from 0) or
--          "best" (keep the better of the two: "GT" or "LT" in ARGV[4])
-- ARGV[2]: the member
-- ARGV[3]: the score, or the increment
-- ARGV[4]: "GT" when a higher score is better, "LT" when a lower one is
-- ARGV[5]: the board's time to live in milliseconds, or "0" to keep it forever
--
-- Returns: for "set" and "incr", the member's score now (as a string); for "best", 1 when
-- the score improved (or was the member's first), else 0.
local result
if ARGV[1] == 'incr' then
    result = redis.call('ZINCRBY', KEYS[1], ARGV[3], ARGV[2])
elseif ARGV[1] == 'best' then
    result = redis.call('ZADD', KEYS[1], ARGV[4], 'CH', ARGV[3], ARGV[2])
else
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
    result = ARGV[3]
end
if ARGV[5] ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return result
