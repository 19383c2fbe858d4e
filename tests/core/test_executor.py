"""The executor's coalescing of concurrent script calls."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from aioredpat import RedisPool, ScriptError, SlidingWindow
from aioredpat._executor import executor_for
from aioredpat._scripts import LuaScript
from aioredpat.testing import command_counts, reset_command_counts

DELETE_IF_EQUALS = LuaScript("core_delete_if_equals")


async def test_concurrent_calls_each_get_their_own_reply(aioredpat_conn: RedisPool) -> None:
    executor = executor_for(aioredpat_conn)
    client = aioredpat_conn.client
    for i in range(300):
        if i % 3 == 0:
            await client.set(f"co:{i}", "token")
        elif i % 3 == 1:
            await client.hset(f"co:{i}", "f", "v")  # WRONGTYPE inside the script
    await executor.run_script(DELETE_IF_EQUALS, ["co:warm"], ["x"])
    await reset_command_counts(aioredpat_conn)
    replies = await asyncio.gather(
        *(executor.run_script(DELETE_IF_EQUALS, [f"co:{i}"], ["token"]) for i in range(300)),
        return_exceptions=True,
    )
    for i, reply in enumerate(replies):
        if i % 3 == 0:
            assert reply == 1
        elif i % 3 == 1:
            assert isinstance(reply, ScriptError)
        else:
            assert reply == 0
    assert (await command_counts(aioredpat_conn))["evalsha"] == 300


async def test_a_call_cancelled_before_its_batch_leaves_is_never_sent(aioredpat_redis_url):
    async with RedisPool.from_url(aioredpat_redis_url, max_connections=1) as pool:
        await pool.client.flushall()
        limiter = SlidingWindow(pool, namespace="co", limit=100, window=60.0)
        holder = asyncio.create_task(pool.client.blpop(["co:gate"], timeout=0))
        await asyncio.sleep(0.05)  # the only connection is taken: calls stay in flight
        hits = [asyncio.create_task(limiter.hit("user")) for _ in range(6)]
        await asyncio.sleep(0)  # the hits queue; their batch leaves on the next iteration
        hits[2].cancel()
        hits[4].cancel()
        async with Redis.from_url(aioredpat_redis_url) as other:
            await other.rpush("co:gate", "go")
        await holder
        results = await asyncio.gather(*hits, return_exceptions=True)
        cancelled = [isinstance(r, asyncio.CancelledError) for r in results]
        assert cancelled == [False, False, True, False, True, False]
        assert sorted(r.remaining for r in results if not isinstance(r, BaseException)) == [
            96,
            97,
            98,
            99,
        ]
        assert (await limiter.peek("user")).remaining == 95  # 4 hits recorded, 1 more to peek


async def test_a_dead_server_fails_every_queued_caller(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url, retries=1) as pool:
        limiter = SlidingWindow(pool, namespace="co", limit=100, window=60.0)
        await limiter.hit("warm")
        server.kill()
        results = await asyncio.gather(
            *(limiter.hit(f"u{i}") for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        server.start()
        assert (await limiter.hit("after")).allowed


async def test_sequential_calls_are_sent_one_by_one(aioredpat_pool: RedisPool) -> None:
    executor = executor_for(aioredpat_pool)
    for i in range(5):
        await aioredpat_pool.client.set(f"seq:{i}", "v")
        assert await executor.run_script(DELETE_IF_EQUALS, [f"seq:{i}"], ["v"]) == 1
    assert executor._coalescer is not None and executor._coalescer.idle


@pytest.mark.parametrize("coalesce", [True, False])
async def test_coalescing_can_be_turned_off(aioredpat_pool: RedisPool, coalesce: bool) -> None:
    from aioredpat._executor import Executor

    executor = Executor(aioredpat_pool.client, coalesce=coalesce)
    replies = await asyncio.gather(
        *(executor.run_script(DELETE_IF_EQUALS, [f"off:{i}"], ["v"]) for i in range(20))
    )
    assert replies == [0] * 20


async def test_get_survives_connections_the_server_closed(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url) as pool:
        executor = executor_for(pool)
        await pool.client.set("k", b"v")
        assert await asyncio.gather(*(executor.get("k") for _ in range(5))) == [b"v"] * 5
        server.kill()
        server.start()  # every pooled connection is now dead
        await pool.client.set("k", b"again")  # through the full path, with its retries
        assert await asyncio.gather(*(executor.get("k") for _ in range(5))) == [b"again"] * 5
        assert await executor.get("missing") is None
