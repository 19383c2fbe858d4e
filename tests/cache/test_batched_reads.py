"""Concurrent cache reads leave together: one pipeline per server (per node on a cluster)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from aioredpat import CacheAside, RedisPool, WriteBehind, WriteThrough, cached
from aioredpat.testing import reset_command_counts
from tests.cache._helpers import commands


class Item(pydantic.BaseModel):
    id: int


async def _nowhere(*_: object) -> None:
    return None


async def _connections_received(pool: RedisPool) -> int:
    """Connections every primary has accepted so far."""
    client = pool.client
    if pool.is_cluster:
        stats = await client.info("stats", target_nodes=client.PRIMARIES)  # type: ignore[call-arg]
        return sum(int(node["total_connections_received"]) for node in stats.values())
    return int((await client.info("stats"))["total_connections_received"])


def _reader(pool: RedisPool, kind: str) -> tuple[Any, Callable[[int], Awaitable[Item | None]]]:
    """A cache of ``kind`` and its read of one key."""
    if kind == "through":
        through = WriteThrough(
            pool, namespace=kind, ttl=60, model=Item, loader=_nowhere, writer=_nowhere
        )
        return through, through.get
    if kind == "behind":
        behind = WriteBehind(pool, namespace=kind, ttl=60, model=Item, writer=_nowhere)
        return behind, behind.get
    aside = CacheAside(pool, namespace=kind, ttl=60, model=Item)
    if kind == "cached":

        @cached(pool, namespace=kind, ttl=60)
        async def item(i: int) -> Item:
            return Item(id=i)

        return item.cache, item
    return aside, aside.get


@pytest.mark.parametrize("kind", ["aside", "through", "behind", "cached"])
async def test_concurrent_reads_leave_together(aioredpat_conn: RedisPool, kind: str) -> None:
    cache, read = _reader(aioredpat_conn, kind)
    for i in range(200):
        if kind == "cached":
            await read(i)  # the function's first call fills its entry
        else:
            await cache.set(i, Item(id=i))
    nodes = 3 if aioredpat_conn.is_cluster else 1
    await reset_command_counts(aioredpat_conn)
    before = await _connections_received(aioredpat_conn)
    for _ in range(3):
        found = await asyncio.gather(*(read(i) for i in range(200)))
        assert found == [Item(id=i) for i in range(200)]
    # 600 reads, 200 at a time, one GET each: a read made while others are on the wire
    # waits for the next batch instead of taking a connection of its own (the pool has 64)
    assert (await _connections_received(aioredpat_conn)) - before <= 2 * nodes
    assert (await commands(aioredpat_conn))["get"] == 600


async def test_get_many_joins_the_batch(aioredpat_conn: RedisPool) -> None:
    cache = CacheAside(aioredpat_conn, namespace="gm", ttl=60, model=Item)
    for i in range(50):
        await cache.set(i, Item(id=i))
    await reset_command_counts(aioredpat_conn)
    found = await asyncio.gather(
        *(cache.get_many(range(start, start + 10)) for start in range(0, 50, 10))
    )
    assert found == [{str(i): Item(id=i) for i in range(s, s + 10)} for s in range(0, 50, 10)]
    assert "get" not in await commands(aioredpat_conn)


async def test_a_cancelled_queued_read_is_never_sent(aioredpat_redis_url: str) -> None:
    async with RedisPool.from_url(aioredpat_redis_url, max_connections=1) as pool:
        await pool.client.flushall()
        cache = CacheAside(pool, namespace="cq", ttl=60, model=Item)
        for i in range(6):
            await cache.set(i, Item(id=i))
        await reset_command_counts(pool)
        holder = asyncio.create_task(pool.client.blpop(["cq:gate"], timeout=0))
        async with Redis.from_url(aioredpat_redis_url) as other:

            async def blocked() -> bool:
                listed = await other.client_list()
                return any(c.get("cmd") == "blpop" for c in listed)

            while not await blocked():  # noqa: ASYNC110 - the only connection is taken
                await asyncio.sleep(0.01)
            reads = [asyncio.create_task(cache.get(i)) for i in range(6)]
            await asyncio.sleep(0)  # the first waits for the connection, the rest queue
            reads[2].cancel()
            reads[4].cancel()
            await other.rpush("cq:gate", "go")
        await holder
        results = await asyncio.gather(*reads, return_exceptions=True)
        assert [isinstance(r, asyncio.CancelledError) for r in results] == [
            False, False, True, False, True, False
        ]  # fmt: skip
        assert [r.id for r in results if isinstance(r, Item)] == [0, 1, 3, 5]
        assert (await commands(pool))["get"] == 4


async def test_a_dead_node_fails_only_its_own_reads(aioredpat_cluster_factory) -> None:
    cluster = aioredpat_cluster_factory(args=["--cluster-require-full-coverage", "no"])
    masters = cluster.nodes[: cluster.masters]
    async with RedisPool.cluster([m.url for m in masters], retries=0) as pool:
        cache = CacheAside(pool, namespace="dn", ttl=600, model=Item)
        for i in range(60):
            await cache.set(i, Item(id=i))
        victim = masters[0]
        doomed = {i for i in range(60) if cluster.master_of(f"dn:{{{i}}}:v") is victim}
        assert 0 < len(doomed) < 60
        victim.kill()
        for _ in range(3):
            results = await asyncio.gather(
                *(cache.get(i) for i in range(60)), return_exceptions=True
            )
            for i, result in enumerate(results):
                if i in doomed:
                    assert isinstance(result, RedisError | OSError), (i, result)
                else:
                    assert result == Item(id=i), (i, result)
