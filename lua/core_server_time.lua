-- Returns the server's clock in microseconds since the epoch, as one integer.
-- Patterns that must pass time as an argument (where a server refuses TIME inside
-- scripts) measure the client's offset to this clock with it.
--
-- Takes no KEYS and no ARGV. Creates no key.
local now = redis.call('TIME')
return tonumber(now[1]) * 1000000 + tonumber(now[2])
