"""Calls are bounded by one deadline of twice the socket timeout, retries included."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredpat import CacheAside, Lock, RedisPool, TokenBucket
from tests._wait import eventually

SOCKET_TIMEOUT = 1.0


async def _load(key: str) -> str:
    return key


CALLS = {
    "command": lambda pool: _execute(pool, "GET", "x"),
    "cache-hit": lambda pool: CacheAside(pool, namespace="c", ttl=5).get("k", loader=_load),
    "script": lambda pool: TokenBucket(pool, namespace="t", capacity=5, refill_rate=1).hit("a"),
    "lock": lambda pool: Lock(pool, "l", ttl=5, blocking_timeout=0).acquire(),
}


def _execute(pool: RedisPool, *args: str):
    return pool._executor.execute(*args)


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_a_server_that_never_answers_fails_the_call_after_one_retry_at_most(
    aioredpat_server_factory, aioredpat_proxy_factory, call
) -> None:
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with RedisPool.from_url(proxy.url, socket_timeout=SOCKET_TIMEOUT, retries=3) as pool:
        await pool.client.ping()  # a connection in the pool, as in a running service
        proxy.pause()
        before = proxy.accepted
        with anyio.fail_after(30), pytest.raises(RedisTimeoutError):  # 30 s: a hang guard
            await CALLS[call](pool)
        # the first attempt timed out; a retry would need a second full timeout, so at most
        # one more connection was made (three retries used to make three)
        assert proxy.accepted - before <= 1


async def test_reads_in_flight_leave_no_task_behind(
    aioredpat_server_factory, aioredpat_proxy_factory
):
    """Reads are bounded by a timer, not a task: a loop closed with a read outstanding
    leaves nothing pending ("Task was destroyed but it is pending")."""
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with RedisPool.from_url(proxy.url, socket_timeout=30) as pool:
        await pool.client.ping()
        proxy.pause()
        read = asyncio.create_task(pool._executor.get("k"))
        await eventually(lambda: proxy.connections >= 1)
        for _ in range(5):
            await asyncio.sleep(0)  # the read is waiting for its reply now
        assert not [t for t in asyncio.all_tasks() if "_tick" in repr(t.get_coro())]
        read.cancel()
        proxy.resume()
