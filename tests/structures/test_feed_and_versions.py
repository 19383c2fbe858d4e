"""ActivityFeed and VersionedStore."""

from __future__ import annotations

import asyncio
import sys

import pydantic
import pytest

from aioredpat import (
    ActivityFeed,
    ConfigurationError,
    RedisPool,
    SerializationError,
    VersionConflict,
    Versioned,
    VersionedStore,
)
from tests.cache._helpers import keys_without_ttl


class Event(pydantic.BaseModel):
    kind: str
    n: int


async def test_a_feed_is_newest_first_and_capped(aioredpat_conn: RedisPool) -> None:
    feed = ActivityFeed(aioredpat_conn, namespace="feed", maxlen=5, ttl=600, model=Event)
    assert await feed.push("ann", *(Event(kind="a", n=i) for i in range(3))) == 3
    assert await feed.push("ann", *(Event(kind="b", n=i) for i in range(4))) == 5
    page = await feed.page("ann")
    assert [(e.kind, e.n) for e in page] == [("b", 3), ("b", 2), ("b", 1), ("b", 0), ("a", 2)]
    assert [e.n for e in await feed.page("ann", offset=1, limit=2)] == [2, 1]
    assert await feed.page("bob") == []
    assert await keys_without_ttl(aioredpat_conn) == []
    await feed.clear("ann")
    assert await feed.page("ann") == []


async def test_a_feed_refuses_wrong_items_and_skips_corrupt_ones(aioredpat_conn: RedisPool) -> None:
    feed = ActivityFeed(aioredpat_conn, namespace="feed", maxlen=10, model=Event)
    with pytest.raises(SerializationError):
        await feed.push("ann", Event(kind="a", n=1), "not an event")  # type: ignore[arg-type]
    assert await feed.page("ann") == []  # nothing was pushed
    await feed.push("ann", Event(kind="a", n=1))
    await aioredpat_conn.client.lpush(feed._key("ann"), b"garbage")
    assert await feed.page("ann") == [Event(kind="a", n=1)]
    with pytest.raises(ConfigurationError, match="maxlen must be an int >= 1"):
        ActivityFeed(aioredpat_conn, namespace="feed", maxlen=0)


async def test_versions_count_up_and_conflicts_name_both(aioredpat_conn: RedisPool) -> None:
    store = VersionedStore(aioredpat_conn, namespace="docs", model=Event, ttl=600)
    assert await store.get("d1") is None
    assert await store.put("d1", Event(kind="a", n=1), version=0) == 1
    assert await store.get("d1") == Versioned(Event(kind="a", n=1), 1)
    assert await store.put("d1", Event(kind="a", n=2)) == 2  # no version: unconditional
    with pytest.raises(VersionConflict) as raised:
        await store.put("d1", Event(kind="a", n=3), version=1)
    assert (raised.value.key, raised.value.expected, raised.value.actual) == ("d1", 1, 2)
    with pytest.raises(VersionConflict, match="version 2, not the expected 0"):
        await store.put("d1", Event(kind="a", n=3), version=0)
    with pytest.raises(VersionConflict):
        await store.delete("d1", version=1)
    assert await store.delete("d1", version=2) is True
    assert await store.delete("d1") is False
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_concurrent_updates_lose_nothing(aioredpat_conn: RedisPool) -> None:
    store = VersionedStore(aioredpat_conn, namespace="counter")

    def plus_one(value: int | None) -> int:
        return (value or 0) + 1

    results = await asyncio.gather(*(store.update("c", plus_one, retries=100) for _ in range(50)))
    assert sorted(r.version for r in results) == list(range(1, 51))
    assert await store.get("c") == Versioned(50, 50)
    assert store.conflicts > 0  # they did collide


async def test_update_takes_an_async_function_and_gives_up(aioredpat_conn: RedisPool) -> None:
    store = VersionedStore(aioredpat_conn, namespace="u")

    async def add(value: list[int] | None) -> list[int]:
        await store.put("k", [99])  # someone else writes every time
        return [*(value or []), 1]

    await store.put("k", [0])
    with pytest.raises(VersionConflict):
        await store.update("k", add, retries=2)
    assert store.conflicts == 3


PROCESS = """
import asyncio, sys
from aioredpat import RedisPool, VersionedStore

async def main(url):
    async with RedisPool.from_url(url) as pool:
        store = VersionedStore(pool, namespace="procs")
        for _ in range(25):
            await store.update("n", lambda v: (v or 0) + 1, retries=1000)
        print(store.conflicts)

asyncio.run(main(sys.argv[1]))
"""


async def test_four_processes_increment_exactly(
    aioredpat_pool: RedisPool, aioredpat_redis_url
) -> None:
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROCESS, aioredpat_redis_url, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = [await worker.communicate() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0, 0]
    store = VersionedStore(aioredpat_pool, namespace="procs")
    found = await store.get("n")
    assert found is not None and (found.value, found.version) == (100, 100)
    assert all(out.strip().isdigit() for out, _ in outputs)


async def test_concurrent_pages_each_get_their_own(aioredpat_conn: RedisPool) -> None:
    # pages read concurrently leave in one batch; their offsets are numbers on the wire
    feed = ActivityFeed(aioredpat_conn, namespace="many", maxlen=100, model=Event)
    for user in range(5):
        await feed.push(f"u{user}", *(Event(kind=f"u{user}", n=i) for i in range(30)))
    pages = await asyncio.gather(
        *(feed.page(f"u{user}", offset=offset, limit=3) for user in range(5) for offset in (0, 7))
    )
    expected = [
        [Event(kind=f"u{user}", n=29 - offset - i) for i in range(3)]
        for user in range(5)
        for offset in (0, 7)
    ]
    assert pages == expected
