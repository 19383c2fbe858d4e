-- Tells, for each item, whether every one of its bits is set in a bloom filter's bitmap.
--
-- KEYS[1]: the bitmap
-- ARGV[1]: the number of bits per item (k)
-- ARGV[2..]: k bit offsets per item, item after item
--
-- Returns a list of 1 (maybe present) or 0 (certainly absent), one per item.
local k = tonumber(ARGV[1])
local out = {}
for first = 2, #ARGV, k do
    local present = 1
    for i = first, first + k - 1 do
        if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then
            present = 0
            break
        end
    end
    out[#out + 1] = present
end
return out
