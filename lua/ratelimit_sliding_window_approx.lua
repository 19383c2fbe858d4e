-- Approximate sliding window (two counters, O(1) memory): the estimate is the previous
-- window's count weighted by how much of it still overlaps the sliding window, plus the
-- current window's count. Each limit keeps "<window index>:<previous>:<current>"; counts
-- from older windows read as zero, so decisions never depend on when Redis expires the
-- key. Several limits are checked together and counted all-or-nothing; a denied hit
-- counts nothing.
--
-- KEYS[i]: counters of limit i (TTL: the end of the next window)
-- ARGV[1]: now in microseconds, or "" to read the server's TIME
-- ARGV[2]: cost, an integer >= 1
-- ARGV[3]: "1" to count when allowed, "0" to answer without counting (peek)
-- ARGV[2+2i]: limit i: most estimated cost allowed in a span of its window
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
local allowed, remaining, retry_after, reset_after = 1, nil, 0, 0
local states = {}
for i = 1, #KEYS do
    local limit = tonumber(ARGV[2 + 2 * i])
    local window = tonumber(ARGV[3 + 2 * i])
    local index = math.floor(now / window)
    local prev, curr = 0, 0
    local stored = redis.call('GET', KEYS[i])
    if stored then
        local a = string.find(stored, ':', 1, true)
        local b = string.find(stored, ':', a + 1, true)
        local at = tonumber(string.sub(stored, 1, a - 1))
        if at == index then
            prev = tonumber(string.sub(stored, a + 1, b - 1))
            curr = tonumber(string.sub(stored, b + 1))
        elseif at == index - 1 then
            prev = tonumber(string.sub(stored, b + 1))
        end
    end
    local elapsed = now - index * window
    local estimate = math.floor(prev * (window - elapsed) / window) + curr
    local left, after
    if estimate + cost > limit then
        allowed = 0
        local wait
        if curr + cost <= limit then
            -- later in this window, once the previous window weighs little enough
            local at = window - (limit - curr - cost + 1) * window / prev
            wait = math.floor(at) + 1 - elapsed
        else
            -- in the next window, where this window's count becomes the weighted one
            local at = window - (limit - cost + 1) * window / curr
            wait = window - elapsed + math.max(0, math.floor(at) + 1)
        end
        retry_after = math.max(retry_after, wait)
        left = limit - estimate
        if left < 0 then left = 0 end
        after = curr
    else
        left = limit - estimate - cost
        after = curr + cost
    end
    local reset = 0
    if after > 0 then
        reset = (index + 2) * window - now
    elseif prev > 0 then
        reset = (index + 1) * window - now
    end
    states[i] = {index, prev, after, (index + 2) * window - now}
    if remaining == nil or left < remaining then remaining = left end
    if reset > reset_after then reset_after = reset end
end
if allowed == 1 and ARGV[3] == '1' then
    for i = 1, #KEYS do
        local s = states[i]
        local value = string.format('%.0f:%d:%d', s[1], s[2], s[3])
        redis.call('SET', KEYS[i], value, 'PX', math.max(1, math.ceil(s[4] / 1000)))
    end
end
return {allowed, remaining, math.ceil(retry_after), math.ceil(reset_after)}
