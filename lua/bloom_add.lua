-- Sets the bits of items in a bloom filter's bitmap; counts the items that were new.
--
-- KEYS[1]: the bitmap (a string of ARGV[1] bytes, made on first use so that it never grows)
-- ARGV[1]: the bitmap's size in bytes
-- ARGV[2]: the number of bits per item (k)
-- ARGV[3]: the filter's time to live in milliseconds, or "0" to keep it forever
-- ARGV[4..]: k bit offsets per item, item after item
--
-- Returns how many items had at least one bit unset (were certainly new).
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SET', KEYS[1], string.rep('\0', tonumber(ARGV[1])))
end
local k = tonumber(ARGV[2])
local new = 0
for first = 4, #ARGV, k do
    local was_new = false
    for i = first, first + k - 1 do
        if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then
            was_new = true
        end
    end
    if was_new then
        new = new + 1
    end
end
if ARGV[3] ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return new
