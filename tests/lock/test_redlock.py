from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import anyio
import pytest

from aioredpat import ConfigurationError, LockNotAcquired, LockNotOwned, RedisPool, Redlock
from tests._wait import eventually


@pytest.fixture
async def masters(aioredpat_server_factory):
    servers = [aioredpat_server_factory() for _ in range(3)]
    async with AsyncExitStack() as stack:
        pools = [
            await stack.enter_async_context(RedisPool.from_url(s.url, retries=0)) for s in servers
        ]
        yield servers, pools


async def held_on(pools, name: str = "job") -> int:
    return sum([await pool.client.exists(f"lock:{{{name}}}:held") for pool in pools])


async def test_acquire_holds_every_master_and_release_frees_them(masters) -> None:
    _, pools = masters
    lock = Redlock(pools, "job", ttl=10)
    async with lock as lease:
        # a majority answered yes at once; the third master's yes lands too
        async def on_all_three() -> bool:
            return await held_on(pools) == 3

        await eventually(on_all_three)
        assert await lock.locked()
        await lease.extend(20)
    assert await held_on(pools) == 0


async def test_one_master_down_still_acquires(masters) -> None:
    servers, pools = masters
    servers[1].kill()
    lock = Redlock(pools, "job", ttl=10, blocking_timeout=2)
    lease = await lock.acquire()
    assert await held_on([pools[0], pools[2]]) == 2
    await lease.extend()
    await lease.release()
    assert await held_on([pools[0], pools[2]]) == 0


async def test_two_masters_down_refuses(masters) -> None:
    servers, pools = masters
    servers[0].kill()
    servers[2].kill()
    lock = Redlock(pools, "job", ttl=60, blocking_timeout=0.5)  # expiry cannot free it in time
    with pytest.raises(LockNotAcquired):
        await lock.acquire()
    with anyio.fail_after(10):  # the minority is given back in the background
        while await pools[1].client.exists("lock:{job}:held"):  # noqa: ASYNC110 - state in Redis
            await asyncio.sleep(0.01)


async def test_mutual_exclusion_between_redlocks(masters) -> None:
    _, pools = masters
    locks = [Redlock(pools, "job", ttl=10, retry_delay=0.01) for _ in range(3)]
    inside, count = 0, 0

    async def worker(lock: Redlock) -> None:
        nonlocal inside, count
        for _ in range(5):
            async with lock:
                inside += 1
                assert inside == 1
                await asyncio.sleep(0.002)
                count += 1
                inside -= 1

    await asyncio.gather(*(worker(lock) for lock in locks))
    assert count == 15


async def test_fencing_tokens_increase_even_when_quorums_differ(masters) -> None:
    servers, pools = masters
    lock = Redlock(pools, "job", ttl=10, blocking_timeout=5, retry_delay=0.05)
    tokens = []

    async def take_and_give_back() -> None:
        lease = await lock.acquire()
        tokens.append(lease.fencing_token)
        await lease.release()

    for _ in range(3):
        await take_and_give_back()
    servers[0].kill()  # quorum {1, 2}
    for _ in range(2):
        await take_and_give_back()
    servers[0].start()  # back empty (no persistence): its counter starts again from 0
    servers[1].kill()  # quorum {0, 2}
    for _ in range(2):
        await take_and_give_back()
    assert tokens == sorted(set(tokens)) and len(tokens) == 7


async def test_an_expired_lease_cannot_release_the_next(masters) -> None:
    _, pools = masters
    first = await Redlock(pools, "job", ttl=0.2).acquire()
    with anyio.fail_after(10):  # expired on every master (a majority alone would do for Redlock)
        while await held_on(pools):  # noqa: ASYNC110 - the state lives in Redis
            await asyncio.sleep(0.01)
    second = await Redlock(pools, "job", ttl=10, blocking_timeout=5, retry_delay=0.05).acquire()
    with pytest.raises(LockNotOwned):
        await first.release()
    assert await held_on(pools) == 3
    await second.release()


def test_bad_configuration(aioredpat_pool) -> None:
    with pytest.raises(ConfigurationError, match="conns"):
        Redlock([], "x", ttl=1)
    with pytest.raises(ConfigurationError, match="drift"):
        Redlock([aioredpat_pool], "x", ttl=1, drift_factor=0.9)
