-- Exact sliding window: each limit keeps the allowed hits of the last window in a sorted
-- set scored by time. A member is "<cumulative cost before it, 15 digits>:<cost>", so the
-- cost inside the window is (newest's cumulative + its cost) - oldest's cumulative, without
-- reading every member. Several limits are checked together and consumed all-or-nothing;
-- a denied hit adds nothing.
--
-- KEYS[i]: sorted set of limit i (TTL: one window after its newest hit)
-- ARGV[1]: now in microseconds, or "" to read the server's TIME
-- ARGV[2]: cost, an integer >= 1
-- ARGV[3]: "1" to consume when allowed, "0" to answer without consuming (peek)
-- ARGV[2+2i]: limit i: most cost allowed in any span of its window
-- ARGV[3+2i]: window of limit i in microseconds
--
-- Returns {allowed (1/0), remaining, retry_after_us, reset_after_us}, over all limits:
-- remaining is the smallest, retry_after and reset_after the largest.
local now
if ARGV[1] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
    now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])

local function parse(member)
    local sep = string.find(member, ':', 1, true)
    return tonumber(string.sub(member, 1, sep - 1)), tonumber(string.sub(member, sep + 1))
end

local allowed, remaining, retry_after, reset_after = 1, nil, 0, 0
local bases = {}
for i = 1, #KEYS do
    local key = KEYS[i]
    local limit = tonumber(ARGV[2 + 2 * i])
    local window = tonumber(ARGV[3 + 2 * i])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local used, base, newest_at = 0, 0, nil
    local oldest = redis.call('ZRANGE', key, 0, 0)
    if #oldest > 0 then
        local first = parse(oldest[1])
        local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
        local last, last_cost = parse(newest[1])
        base = last + last_cost
        used = base - first
        newest_at = tonumber(newest[2])
        -- the smallest rank whose expiry frees enough cost for this hit
        local need = used + cost - limit
        if need > 0 then
            allowed = 0
            local lo, hi = 0, redis.call('ZCARD', key) - 1
            while lo < hi do
                local mid = math.floor((lo + hi) / 2)
                local b, c = parse(redis.call('ZRANGE', key, mid, mid)[1])
                if b + c - first >= need then hi = mid else lo = mid + 1 end
            end
            local at = tonumber(redis.call('ZRANGE', key, lo, lo, 'WITHSCORES')[2])
            retry_after = math.max(retry_after, at + window - now)
        end
    end
    local left, reset
    if used + cost > limit then
        left = limit - used
        reset = newest_at + window - now
    else
        left = limit - used - cost
        reset = window
    end
    bases[i] = base
    if remaining == nil or left < remaining then remaining = left end
    if reset > reset_after then reset_after = reset end
end
if allowed == 1 and ARGV[3] == '1' then
    for i = 1, #KEYS do
        local window = tonumber(ARGV[3 + 2 * i])
        redis.call('ZADD', KEYS[i], now, string.format('%015d:%d', bases[i], cost))
        redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000) + 1)
    end
end
return {allowed, remaining, math.ceil(retry_after), math.ceil(reset_after)}
