-- Deletes a key only while it still holds the expected value (compare-and-delete).
-- Used to give up a short lease without removing one that another holder took over.
--
-- KEYS[1]: the key to delete
-- ARGV[1]: the value the key must hold for the delete to happen
--
-- Returns 1 when the key was deleted, 0 when it held something else or was gone.
-- Creates no key.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
