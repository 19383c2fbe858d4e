"""The three lock implementations behind one small interface, for bench_lock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from aioredpat import Lock, RedisPool

NAME = "bench-lock"
IMPLEMENTATIONS = ("aioredpat", "redis-py", "pottery")


class Adapter:
    def __init__(self, impl: str, client: Any, pool: RedisPool | None) -> None:
        self.impl = impl
        if impl == "aioredpat":
            assert pool is not None
            self._lock: Any = Lock(pool, NAME, ttl=10.0)
        elif impl == "redis-py":
            self._lock = client.lock(NAME, timeout=10.0, blocking_timeout=60.0)
        else:
            from pottery import AIORedlock

            self._lock = AIORedlock(key=NAME, masters={client}, auto_release_time=10.0)

    def hold(self) -> Any:
        """``async with adapter.hold():`` acquires, blocking, and releases."""
        return self._lock


@contextlib.asynccontextmanager
async def make_lock(impl: str, url: str) -> AsyncIterator[Adapter]:
    if impl == "aioredpat":
        async with RedisPool.from_url(url) as pool:
            yield Adapter(impl, pool.client, pool)
    else:
        client = Redis.from_url(url)
        try:
            yield Adapter(impl, client, None)
        finally:
            await client.aclose()
