-- Registers a write-through write about to reach the database, so that its end can tell
-- whether another write of the same key overlapped it.
--
-- KEYS[1]: the key's write state, a hash: "seq" counts writes begun, "active" those not
--          ended (expires after ARGV[1] ms, so a crashed writer does not count forever)
-- ARGV[1]: how long a write may take, in milliseconds
--
-- Returns {this write's sequence number, 1 if another write was in progress, else 0}.
local active = redis.call('HINCRBY', KEYS[1], 'active', 1)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return {seq, active > 1 and 1 or 0}
