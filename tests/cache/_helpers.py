from __future__ import annotations

import asyncio
from collections import Counter

import anyio

from aioredpat import RedisPool
from aioredpat.testing import command_counts

BOOKKEEPING = {"info", "config|resetstat", "config"}


async def commands(pool: RedisPool) -> Counter[str]:
    """Commands counted since the last reset, without the counting itself."""
    counts = await command_counts(pool)
    return Counter({name: n for name, n in counts.items() if name not in BOOKKEEPING and n})


async def keys_without_ttl(pool: RedisPool) -> list[bytes]:
    client = pool.client
    return [key async for key in client.scan_iter(count=1000) if await client.pttl(key) < 0]


async def eventually(condition, *, bound: float = 20.0) -> None:
    with anyio.fail_after(bound):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
