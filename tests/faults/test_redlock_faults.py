"""Redlock decides from what the masters did: a late reply still counts."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack

import anyio
import pytest

from aioredpat import LockLost, RedisPool, Redlock


@pytest.fixture
async def three(aioredpat_server_factory, aioredpat_proxy_factory):
    """Three masters, each behind a proxy (so one can be slowed); pools with retries=0."""
    servers = [aioredpat_server_factory() for _ in range(3)]
    proxies = [aioredpat_proxy_factory(server) for server in servers]
    async with AsyncExitStack() as stack:
        pools = [
            await stack.enter_async_context(RedisPool.from_url(p.url, retries=0)) for p in proxies
        ]
        yield servers, proxies, pools


async def held_on(pools, name: str) -> int:
    return sum([await pool.client.exists(f"lock:{{{name}}}:held") for pool in pools])


def stall_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # the fault: nothing on this event loop runs meanwhile


async def test_a_loop_stall_during_release_is_not_a_lost_majority(three) -> None:
    _, _, pools = three
    lock = Redlock(pools, "stall", ttl=10)
    for _ in range(5):
        lease = await lock.acquire()
        release = asyncio.create_task(lease.release())
        for _ in range(3):
            await asyncio.sleep(0)  # the release's commands are on the wire
        stall_the_loop(0.12)
        await release  # every master released: no LockNotOwned
        assert await held_on(pools, "stall") == 0


async def test_late_extension_replies_do_not_cancel_an_auto_extended_body(three) -> None:
    _, proxies, pools = three
    # the ttl leaves room for a loaded CI machine; the delays and stalls are what matter
    lock = Redlock(pools, "extended", ttl=1.2, auto_extend=True, blocking_timeout=5)
    rounds = 0
    async with lock:
        for proxy in proxies:
            proxy.delay(0.05)  # every reply now comes 0.1 s late, well within the ttl
        for _ in range(16):  # the watchdog extends every 0.4 s meanwhile
            await anyio.sleep(0.1)
            stall_the_loop(0.05)
            rounds += 1
        assert await held_on(pools, "extended") >= 2  # a majority: the lock is held
    assert rounds == 16  # not cancelled with LockLost
    assert await held_on(pools, "extended") == 0


async def test_fencing_tokens_increase_with_a_slow_master_and_changing_quorums(three) -> None:
    servers, proxies, pools = three
    proxies[2].delay(0.15)  # one master answers late, every time
    lock = Redlock(pools, "fenced", ttl=10, blocking_timeout=10, retry_delay=0.05)
    tokens = []
    for round_ in range(9):
        if round_ == 3:
            servers[0].kill()  # the majority now needs the slow master
        if round_ == 6:
            servers[0].start()  # back empty: its counter starts again from 0
            servers[1].kill()
        lease = await lock.acquire()
        tokens.append(lease.fencing_token)
        await lease.release()
    assert tokens == sorted(set(tokens)) and len(tokens) == 9


async def test_lock_lost_is_raised_when_the_masters_say_so(three) -> None:
    _, _, pools = three
    lock = Redlock(pools, "taken", ttl=0.6, auto_extend=True)
    with pytest.raises(LockLost):
        async with lock:
            for pool in pools:  # an operator deletes the lock everywhere
                await pool.client.delete("lock:{taken}:held")
            await anyio.sleep(5)
