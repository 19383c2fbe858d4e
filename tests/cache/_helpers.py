from __future__ import annotations

from collections import Counter

from aioredpat import RedisPool
from aioredpat.testing import command_counts
from tests._wait import eventually as eventually

# the counting itself, and a new connection's handshake (concurrent reads may open one);
# Redis 6.2 counts subcommands under their command, so its CLIENT SETINFO shows as "client"
BOOKKEEPING = {"info", "config|resetstat", "config", "hello", "client|setinfo", "client"}


async def commands(pool: RedisPool) -> Counter[str]:
    """Commands counted since the last reset, without the counting itself."""
    counts = await command_counts(pool)
    return Counter({name: n for name, n in counts.items() if name not in BOOKKEEPING and n})


async def keys_without_ttl(pool: RedisPool) -> list[bytes]:
    client = pool.client
    return [key async for key in client.scan_iter(count=1000) if await client.pttl(key) < 0]
