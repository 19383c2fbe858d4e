from __future__ import annotations

import asyncio
import collections
import logging

import pydantic
import pytest
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from aioredpat import CacheAside, ConfigurationError, RedisPool
from aioredpat.testing import reset_command_counts
from tests.cache._helpers import commands, eventually, keys_without_ttl


class User(pydantic.BaseModel):
    id: int
    name: str


class Source:
    """A slow source of users that counts its calls."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.delay = delay
        self.names: dict[str, str] = {}

    async def load(self, key: str) -> User | None:
        self.calls[key] += 1
        await asyncio.sleep(self.delay)
        if key.startswith("missing"):
            return None
        return User(id=int(key.rsplit("-", 1)[-1]), name=self.names.get(key, f"user {key}"))


def users(pool: RedisPool, source: Source | None = None, **options) -> CacheAside[User]:
    loader = source.load if source is not None else None
    return CacheAside(pool, namespace="users", ttl=60, model=User, loader=loader, **options)


async def test_a_hit_is_one_get(aioredpat_conn: RedisPool) -> None:
    cache = users(aioredpat_conn)
    await cache.set("u-1", User(id=1, name="Ada"))
    await reset_command_counts(aioredpat_conn)
    assert await cache.get("u-1") == User(id=1, name="Ada")
    assert await commands(aioredpat_conn) == {"get": 1}


async def test_a_miss_loads_stores_and_then_hits(aioredpat_conn: RedisPool) -> None:
    source = Source()
    cache = users(aioredpat_conn, source)
    assert await cache.get("u-7") == User(id=7, name="user u-7")
    assert await cache.get("u-7") == User(id=7, name="user u-7")
    assert source.calls["u-7"] == 1
    assert await cache.get("u-8") is not None  # the constructor's loader
    assert await users(aioredpat_conn).get("u-9") is None  # no loader: a miss is None


async def test_90_concurrent_misses_over_3_pools_call_the_loader_once(
    aioredpat_conn: RedisPool, request
) -> None:
    if aioredpat_conn.is_cluster:
        urls = request.getfixturevalue("aioredpat_cluster").urls
        pools = [RedisPool.cluster(urls) for _ in range(2)]
    else:
        url = request.getfixturevalue("aioredpat_redis_url")
        pools = [RedisPool.from_url(url) for _ in range(2)]
    source = Source(delay=0.2)
    caches = [users(pool, source) for pool in [aioredpat_conn, *pools]]
    try:
        results = await asyncio.gather(*(caches[i % 3].get("u-42") for i in range(90)))
    finally:
        for pool in pools:
            await pool.aclose()
    assert source.calls["u-42"] == 1
    assert results == [User(id=42, name="user u-42")] * 90


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached(
    aioredpat_conn: RedisPool,
) -> None:
    calls = 0

    async def broken(key: str) -> User:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise LookupError("database down")

    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, loader=broken)
    results = await asyncio.gather(*(cache.get("u-1") for _ in range(10)), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, LookupError) for r in results)
    with pytest.raises(LookupError):
        await cache.get("u-1")
    assert calls == 2  # not cached
    assert await aioredpat_conn.client.exists("users:{u-1}:lease") == 0  # nothing left held


async def test_a_slow_loader_never_overwrites_a_newer_set(aioredpat_conn: RedisPool) -> None:
    release = asyncio.Event()

    async def slow(key: str) -> User:
        await release.wait()
        return User(id=1, name="old, loaded before the set")

    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, loader=slow)
    reader = asyncio.create_task(cache.get("u-1"))
    await eventually(lambda: aioredpat_conn.client.exists("users:{u-1}:lease"))
    await cache.set("u-1", User(id=1, name="new"))
    release.set()
    assert (await reader).name == "old, loaded before the set"  # what that reader loaded
    assert (await cache.get("u-1")).name == "new"  # but the cache kept the newer value


async def test_a_slow_loader_never_resurrects_a_deleted_key(aioredpat_conn: RedisPool) -> None:
    release = asyncio.Event()
    calls = 0

    async def slow(key: str) -> User:
        nonlocal calls
        calls += 1
        await release.wait()
        return User(id=1, name=f"load {calls}")

    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, loader=slow)
    await cache.set("u-1", User(id=1, name="stored"))
    await aioredpat_conn.client.delete("users:{u-1}:v")  # expired, say
    reader = asyncio.create_task(cache.get("u-1"))
    await eventually(lambda: aioredpat_conn.client.exists("users:{u-1}:lease"))
    await cache.delete("u-1")
    release.set()
    await reader
    assert await aioredpat_conn.client.exists("users:{u-1}:v") == 0


async def test_tags_invalidate_members_of_different_ttls(aioredpat_conn: RedisPool) -> None:
    source = Source()
    cache = users(aioredpat_conn, source)
    await cache.set("u-1", User(id=1, name="a"), ttl=5, tags=["team:1"])
    await cache.set("u-2", User(id=2, name="b"), ttl=3600, tags=["team:1", "org:9"])
    await cache.set("u-3", User(id=3, name="c"), ttl=60, tags=["org:9"])
    await cache.set("u-4", User(id=4, name="d"), ttl=600)
    assert (await cache.get("u-2")).name == "b"
    await cache.invalidate_tags("team:1")
    assert await users(aioredpat_conn).get("u-1") is None  # invalidated: a miss
    assert (await cache.get("u-1")).name == "user u-1"  # reloaded
    assert (await cache.get("u-2")).name == "user u-2"
    assert (await cache.get("u-3")).name == "c" and (await cache.get("u-4")).name == "d"
    assert source.calls == {"u-1": 1, "u-2": 1}
    await cache.set("u-5", User(id=5, name="e"), tags=["team:1"])  # after: unaffected
    assert (await cache.get("u-5")).name == "e"
    await cache.invalidate_tags("org:9", "unused")
    assert (await cache.get("u-3")).name == "user u-3"


async def test_invalidating_a_tag_costs_the_same_whatever_its_size(
    aioredpat_conn: RedisPool,
) -> None:
    cache = users(aioredpat_conn)
    for i in range(200):
        await cache.set(f"u-{i}", User(id=i, name="x"), tags=["big"])
    await reset_command_counts(aioredpat_conn)
    await cache.invalidate_tags("big")
    assert await commands(aioredpat_conn) == {"set": 1}
    assert await cache.get_many(f"u-{i}" for i in range(200)) == {}


async def test_a_lost_tag_version_invalidates_its_entries(aioredpat_conn: RedisPool) -> None:
    cache = users(aioredpat_conn)
    await cache.set("u-1", User(id=1, name="a"), tags=["t"])
    await aioredpat_conn.client.delete("users:{~tags}:t")  # evicted under memory pressure
    assert await cache.get("u-1") is None


async def test_corrupted_entries_are_misses(aioredpat_conn: RedisPool, caplog) -> None:
    source = Source()
    cache = users(aioredpat_conn, source)
    await aioredpat_conn.client.set("users:{u-1}:v", b"\x00garbage", ex=60)
    await aioredpat_conn.client.set("users:{u-2}:v", b"ar1|v|0|0|\n{not json", ex=60)
    await aioredpat_conn.client.set("users:{u-3}:v", b'ar1|v|0|0|\n{"id": "x"}', ex=60)
    with caplog.at_level(logging.WARNING, logger="aioredpat"):
        for key in ("u-1", "u-2", "u-3"):
            assert (await cache.get(key)).name == f"user {key}"
            assert (await cache.get(key)).name == f"user {key}"  # replaced: now a hit
    assert source.calls == {"u-1": 1, "u-2": 1, "u-3": 1}
    assert len([r for r in caplog.records if "cannot be decoded" in r.message]) == 3
    await aioredpat_conn.client.set("users:{u-4}:v", b"junk", ex=60)
    assert await users(aioredpat_conn).get("u-4") is None
    assert await users(aioredpat_conn).get_many(["u-4"]) == {}


async def test_negative_ttl_remembers_none(aioredpat_conn: RedisPool) -> None:
    source = Source()
    remembering = users(aioredpat_conn, source, negative_ttl=30)
    assert await remembering.get("missing-1") is None
    assert await remembering.get("missing-1") is None
    assert source.calls["missing-1"] == 1
    forgetting = CacheAside(
        aioredpat_conn, namespace="other", ttl=60, model=User, loader=source.load
    )
    assert await forgetting.get("missing-2") is None
    assert await forgetting.get("missing-2") is None
    assert source.calls["missing-2"] == 2
    assert 0 < await aioredpat_conn.client.pttl("users:{missing-1}:v") <= 30_000


async def test_get_many_is_one_mget_per_slot_group(aioredpat_conn: RedisPool) -> None:
    cache = users(aioredpat_conn)
    for i in range(10):
        await cache.set(f"u-{i}", User(id=i, name=str(i)))
    await reset_command_counts(aioredpat_conn)
    found = await cache.get_many([f"u-{i}" for i in range(12)])
    assert found == {f"u-{i}": User(id=i, name=str(i)) for i in range(10)}
    slots = {key_slot(f"users:{{u-{i}}}:v".encode()) for i in range(12)}
    expected = len(slots) if aioredpat_conn.is_cluster else 1
    assert await commands(aioredpat_conn) == {"mget": expected}


async def test_get_many_loads_the_misses(aioredpat_conn: RedisPool) -> None:
    source = Source()
    cache = users(aioredpat_conn, source)
    await cache.set("u-1", User(id=1, name="cached"))
    found = await cache.get_many(["u-1", "u-2", "missing-3", 4])
    assert found == {"u-1": User(id=1, name="cached"), "u-2": User(id=2, name="user u-2"),
                     "4": User(id=4, name="user 4")}  # fmt: skip
    assert source.calls == {"u-2": 1, "missing-3": 1, "4": 1}


async def test_every_key_written_has_a_ttl(aioredpat_conn: RedisPool) -> None:
    source = Source(delay=0.05)
    cache = users(aioredpat_conn, source, negative_ttl=10, stale_ttl=5, early_refresh=1.0)
    await cache.set("u-1", User(id=1, name="a"), tags=["t1", "t2"])
    await asyncio.gather(*(cache.get(f"u-{i % 5}") for i in range(20)))
    await cache.get("missing-1")
    await cache.invalidate_tags("t1", "never-used")
    await cache.get_many(["u-1", "u-6"])
    await cache.delete("u-2")
    held = asyncio.Event()

    async def waits(key: str) -> User:
        await held.wait()
        return User(id=9, name="late")

    loading = asyncio.create_task(cache.get("u-9", loader=waits))
    other = users(aioredpat_conn, source)
    waiting = asyncio.create_task(other.get("u-9", loader=waits))
    await eventually(lambda: aioredpat_conn.client.exists("users:{u-9}:w"))
    assert await keys_without_ttl(aioredpat_conn) == []
    held.set()
    await asyncio.gather(loading, waiting)
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_waiters_load_themselves_when_the_lease_holder_is_gone(
    aioredpat_conn: RedisPool,
) -> None:
    source = Source()
    cache = users(aioredpat_conn, source, lease_ttl=0.5)
    # a process took the lease and died: nobody will fill the entry or tell the waiters
    await aioredpat_conn.client.set("users:{u-1}:lease", "dead-process", px=60_000)
    assert (await cache.get("u-1")).name == "user u-1"
    assert source.calls["u-1"] == 1


async def test_a_cancelled_caller_leaves_the_load_to_the_others(aioredpat_conn: RedisPool) -> None:
    source = Source(delay=0.3)
    cache = users(aioredpat_conn, source)
    first = asyncio.create_task(cache.get("u-5"))
    second = asyncio.create_task(cache.get("u-5"))
    await eventually(lambda: source.calls["u-5"] == 1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).id == 5
    assert source.calls["u-5"] == 1
    assert await aioredpat_conn.client.exists("users:{u-5}:lease") == 0
    assert (await users(aioredpat_conn).get("u-5")).id == 5  # stored despite the cancel


async def test_early_refresh_refreshes_in_the_background(aioredpat_conn: RedisPool) -> None:
    gate = asyncio.Event()
    loads = 0

    async def loader(key: str) -> User:
        nonlocal loads
        loads += 1
        if loads > 1:
            await gate.wait()  # the refresh is slow; hits must not wait for it
        await asyncio.sleep(0.05)
        return User(id=1, name=f"version {loads}")

    cache = CacheAside(aioredpat_conn, namespace="users", ttl=2, model=User, loader=loader,
                       early_refresh=100.0)  # fmt: skip
    assert (await cache.get("u-1")).name == "version 1"

    async def hits_until_refresh_starts() -> bool:
        assert (await cache.get("u-1")).name == "version 1"  # served while refreshing
        return loads == 2

    await eventually(hits_until_refresh_starts)
    for _ in range(20):
        assert (await cache.get("u-1")).name == "version 1"
    assert loads == 2  # one refresh at a time
    gate.set()

    async def refreshed() -> bool:
        return (await users(aioredpat_conn).get("u-1")).name != "version 1"

    await eventually(refreshed)


async def test_stale_while_revalidate_serves_stale_then_fresh(aioredpat_conn: RedisPool) -> None:
    version = 0

    async def loader(key: str) -> User:
        nonlocal version
        version += 1
        return User(id=1, name=f"version {version}")

    cache = CacheAside(aioredpat_conn, namespace="users", ttl=0.2, stale_ttl=60, model=User,
                       loader=loader)  # fmt: skip
    assert (await cache.get("u-1")).name == "version 1"
    await asyncio.sleep(0.3)  # past ttl: stale, still stored for stale_ttl
    assert (await cache.get("u-1")).name == "version 1"  # served stale at once

    async def refreshed() -> bool:
        return (await cache.get("u-1")).name == "version 2"

    await eventually(refreshed)


async def test_fail_open_serves_from_the_loader(aioredpat_server_factory, caplog) -> None:
    server = aioredpat_server_factory()
    source = Source()
    async with RedisPool.from_url(server.url, retries=0, socket_connect_timeout=1) as pool:
        strict = users(pool, source)
        tolerant = CacheAside(pool, namespace="users", ttl=60, model=User,
                              loader=source.load, fail_open=True)  # fmt: skip
        await tolerant.set("u-1", User(id=1, name="cached"))
        server.kill()
        with caplog.at_level(logging.WARNING, logger="aioredpat"):
            assert (await tolerant.get("u-1")).name == "user u-1"
            assert (await tolerant.get("u-2")).name == "user u-2"
            await tolerant.set("u-3", User(id=3, name="skipped"))  # no error
            assert await tolerant.get_many(["u-4"]) == {"u-4": User(id=4, name="user u-4")}
        assert any("unreachable" in r.message for r in caplog.records)
        with pytest.raises(RedisConnectionError):
            await strict.get("u-1")
        with pytest.raises(RedisConnectionError):
            await tolerant.delete("u-1")  # skipping it could serve stale data later
        server.start()


def test_bad_configuration_fails_at_construction(aioredpat_pool: RedisPool) -> None:
    for options, word in [
        ({"ttl": 0}, "ttl"),
        ({"ttl": 10, "negative_ttl": -1}, "negative_ttl"),
        ({"ttl": 10, "early_refresh": 0}, "early_refresh"),
        ({"ttl": 10, "stale_ttl": "1"}, "stale_ttl"),
        ({"ttl": 10, "loader": "no"}, "loader"),
        ({"ttl": 100, "max_ttl": 10}, "max_ttl"),
        ({"ttl": 10, "namespace": "a{b}"}, "namespace"),
    ]:
        with pytest.raises(ConfigurationError, match=word):
            CacheAside(aioredpat_pool, **{"namespace": "n", **options})


async def test_bad_arguments_name_what_was_wrong(aioredpat_pool: RedisPool) -> None:
    cache = users(aioredpat_pool, max_ttl=3600)
    with pytest.raises(ConfigurationError, match="max_ttl"):
        await cache.set("u-1", User(id=1, name="a"), ttl=7200)
    with pytest.raises(ConfigurationError, match="tags"):
        await cache.set("u-1", User(id=1, name="a"), tags=[""])
    with pytest.raises(TypeError, match="str or int"):
        await cache.get(1.5)


async def test_concurrent_hits_of_one_key_share_a_get(aioredpat_conn: RedisPool) -> None:
    cache = users(aioredpat_conn)
    await cache.set("u-1", User(id=1, name="hot"))
    await reset_command_counts(aioredpat_conn)
    results = await asyncio.gather(*(cache.get("u-1") for _ in range(50)))
    assert results == [User(id=1, name="hot")] * 50
    assert results[0] is not results[1]  # each caller decodes its own instance
    gets = (await commands(aioredpat_conn))["get"]
    assert 1 <= gets < 50


async def test_a_read_after_a_local_write_never_shares_an_older_get(
    aioredpat_conn: RedisPool,
) -> None:
    cache = users(aioredpat_conn)
    await cache.set("u-1", User(id=1, name="old"))
    early = asyncio.create_task(cache.get("u-1"))
    await asyncio.sleep(0)  # its GET is on the wire
    await cache.set("u-1", User(id=1, name="new"))
    assert (await cache.get("u-1")).name == "new"
    assert (await early).name in ("old", "new")


async def test_a_cancelled_reader_does_not_fail_those_sharing_its_get(
    aioredpat_conn: RedisPool,
) -> None:
    cache = users(aioredpat_conn)
    await cache.set("u-1", User(id=1, name="a"))
    first = asyncio.create_task(cache.get("u-1"))
    await asyncio.sleep(0)
    others = [asyncio.create_task(cache.get("u-1")) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    assert [(await other).name for other in others] == ["a"] * 5
