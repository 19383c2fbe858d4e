from __future__ import annotations

import asyncio

import anyio
import pytest

from aioredpat import ConfigurationError, LockNotAcquired, LockNotOwned, RedisPool, Semaphore


async def test_at_most_limit_holders_at_once(aioredpat_conn: RedisPool) -> None:
    semaphore = Semaphore(aioredpat_conn, "pool", limit=3, ttl=10)
    inside, most, tokens = 0, 0, []

    async def worker() -> None:
        nonlocal inside, most
        for _ in range(3):
            async with semaphore as lease:
                inside += 1
                most = max(most, inside)
                tokens.append(lease.fencing_token)
                await asyncio.sleep(0.005)
                inside -= 1

    await asyncio.gather(*(worker() for _ in range(10)))
    assert most == 3
    assert len(set(tokens)) == 30
    assert await semaphore.held() == 0


async def test_blocking_timeout_when_full(aioredpat_conn: RedisPool) -> None:
    semaphore = Semaphore(aioredpat_conn, "full", limit=2, ttl=30)
    leases = [await semaphore.acquire(), await semaphore.acquire()]
    assert await semaphore.locked()
    with pytest.raises(LockNotAcquired):
        await semaphore.acquire(blocking_timeout=0.2)
    waiter = asyncio.create_task(semaphore.acquire(blocking_timeout=20))
    await asyncio.sleep(0.2)
    await leases[0].release()
    third = await asyncio.wait_for(waiter, 10)  # woken by the release, not the 30 s ttl
    assert await semaphore.held() == 2
    for lease in (leases[1], third):
        await lease.release()


async def test_a_crashed_holders_permit_expires(aioredpat_conn: RedisPool) -> None:
    semaphore = Semaphore(aioredpat_conn, "crash", limit=1, ttl=0.3)
    stale = await semaphore.acquire()  # never released
    lease = await Semaphore(aioredpat_conn, "crash", limit=1, ttl=5, blocking_timeout=20).acquire()
    with pytest.raises(LockNotOwned):
        await stale.release()
    with pytest.raises(LockNotOwned):
        await stale.extend()
    await lease.extend(10)
    await lease.release()


async def test_cancellation_gives_permits_back(aioredpat_conn: RedisPool) -> None:
    semaphore = Semaphore(aioredpat_conn, "cancel", limit=2, ttl=60)
    with anyio.move_on_after(0.2):
        async with semaphore:
            await anyio.sleep(60)
    for steps in range(8):
        task = asyncio.create_task(semaphore.acquire())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        result = (await asyncio.gather(task, return_exceptions=True))[0]
        if not isinstance(result, BaseException):
            await result.release()
    assert await semaphore.held() == 0


def test_bad_limit(aioredpat_pool) -> None:
    with pytest.raises(ConfigurationError, match="limit"):
        Semaphore(aioredpat_pool, "x", limit=0, ttl=1)
