-- Token bucket as GCRA: each limit keeps one number, the theoretical arrival time (TAT),
-- the instant its bucket would be full again. Several limits are checked together and
-- consumed all-or-nothing; a denied hit changes nothing.
--
-- KEYS[i]: bucket of limit i, a string holding its TAT in microseconds (TTL: until full)
-- ARGV[1]: now in microseconds, or "" to read the server's TIME
-- ARGV[2]: cost, an integer >= 1
-- ARGV[3]: "1" to consume when allowed, "0" to answer without consuming (peek)
-- ARGV[2+2i]: capacity of limit i (tokens)
-- ARGV[3+2i]: microseconds to refill one token of limit i (1e6 / refill_rate)
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
local new_tats = {}
for i = 1, #KEYS do
    local capacity = tonumber(ARGV[2 + 2 * i])
    local interval = tonumber(ARGV[3 + 2 * i])
    local burst = math.floor(capacity * interval + 0.5)
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local new_tat = tat + math.floor(cost * interval + 0.5)
    local left, reset
    if new_tat - now > burst then
        allowed = 0
        retry_after = math.max(retry_after, new_tat - now - burst)
        left = math.floor((burst - (tat - now)) / interval)
        reset = tat - now
    else
        left = math.floor((burst - (new_tat - now)) / interval)
        reset = new_tat - now
    end
    new_tats[i] = new_tat
    if remaining == nil or left < remaining then remaining = left end
    if reset > reset_after then reset_after = reset end
end
if allowed == 1 and ARGV[3] == '1' then
    for i = 1, #KEYS do
        local ttl_ms = math.max(1, math.ceil((new_tats[i] - now) / 1000))
        redis.call('SET', KEYS[i], string.format('%.0f', new_tats[i]), 'PX', ttl_ms)
    end
end
return {allowed, remaining, math.ceil(retry_after), math.ceil(reset_after)}
