-- Fixed window: each limit keeps "<window index>:<count>" for the current window, the
-- windows aligned to the epoch. A count from an older window reads as zero, so decisions
-- never depend on when Redis expires the key. Several limits are checked together and
-- counted all-or-nothing; a denied hit counts nothing.
--
-- KEYS[i]: counter of limit i (TTL: the end of its window)
-- ARGV[1]: now in microseconds, or "" to read the server's TIME
-- ARGV[2]: cost, an integer >= 1
-- ARGV[3]: "1" to count when allowed, "0" to answer without counting (peek)
-- ARGV[2+2i]: limit i: most cost allowed in one window
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
    local count = 0
    local stored = redis.call('GET', KEYS[i])
    if stored then
        local sep = string.find(stored, ':', 1, true)
        if tonumber(string.sub(stored, 1, sep - 1)) == index then
            count = tonumber(string.sub(stored, sep + 1))
        end
    end
    local reset = (index + 1) * window - now
    local left
    if count + cost > limit then
        allowed = 0
        retry_after = math.max(retry_after, reset)
        left = limit - count
    else
        left = limit - count - cost
    end
    states[i] = {index, count + cost, reset}
    if remaining == nil or left < remaining then remaining = left end
    if reset > reset_after then reset_after = reset end
end
if allowed == 1 and ARGV[3] == '1' then
    for i = 1, #KEYS do
        local s = states[i]
        local value = string.format('%.0f:%d', s[1], s[2])
        redis.call('SET', KEYS[i], value, 'PX', math.max(1, math.ceil(s[3] / 1000)))
    end
end
return {allowed, remaining, math.ceil(retry_after), math.ceil(reset_after)}
