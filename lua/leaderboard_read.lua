-- Reads ranks from a board in one round trip, with competition ranking: members with equal
-- scores share a rank, and the next rank skips ("1224"). A member's rank is one more than
-- the number of members with a strictly better score.
--
-- KEYS[1]: the board (a sorted set)
-- ARGV[1]: "rank" (one member), "top" (a page) or "around" (a member and its neighbours)
-- ARGV[2]: "1" when a higher score is better, "0" when a lower one is
-- ARGV[3]: for "rank" and "around", the member; for "top", the page's offset
-- ARGV[4]: for "top", the page's size; for "around", how many either side
--
-- Returns: for "rank", {rank, score} or nil; otherwise a flat list of member, score, rank.
local high = ARGV[2] == '1'

local function better_than(score)
    if high then
        return redis.call('ZCOUNT', KEYS[1], '(' .. score, '+inf')
    end
    return redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score)
end

local function ranked(start, stop)
    local found
    if high then
        found = redis.call('ZREVRANGE', KEYS[1], start, stop, 'WITHSCORES')
    else
        found = redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
    end
    local out = {}
    local rank, previous
    for i = 1, #found, 2 do
        local score = found[i + 1]
        if rank == nil then
            rank = better_than(score) + 1
        elseif tonumber(score) ~= tonumber(previous) then
            rank = start + (i + 1) / 2
        end
        previous = score
        out[#out + 1] = found[i]
        out[#out + 1] = score
        out[#out + 1] = rank
    end
    return out
end

if ARGV[1] == 'rank' then
    local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
    if not score then
        return nil
    end
    return {better_than(score) + 1, score}
elseif ARGV[1] == 'top' then
    local offset = tonumber(ARGV[3])
    return ranked(offset, offset + tonumber(ARGV[4]) - 1)
end
local position
if high then
    position = redis.call('ZREVRANK', KEYS[1], ARGV[3])
else
    position = redis.call('ZRANK', KEYS[1], ARGV[3])
end
if not position then
    return {}
end
local n = tonumber(ARGV[4])
return ranked(math.max(0, position - n), position + n)
