"""NearCache: hits from process memory, dropped when Redis says the key changed."""

from __future__ import annotations

import asyncio
import sys

import pydantic
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredpat import CacheAside, ConfigurationError, NearCache, RedisPool, WriteThrough, cached
from aioredpat.testing import reset_command_counts
from tests._wait import eventually
from tests.cache._helpers import commands


class User(pydantic.BaseModel):
    id: int
    name: str


def _second_pool(aioredpat_conn: RedisPool, request: pytest.FixtureRequest) -> RedisPool:
    """Another client of the same server(s): what another process would be to Redis."""
    if aioredpat_conn.is_cluster:
        return RedisPool.cluster(request.getfixturevalue("aioredpat_cluster").urls)
    return RedisPool.from_url(request.getfixturevalue("aioredpat_redis_url"))


async def _ready(cache: CacheAside, key: str) -> None:
    """Start the near cache's listening and wait until it hears every node."""
    near = cache.near_cache
    assert near is not None
    await cache.get(key)
    await eventually(lambda: near.ready)


async def _tracking_clients(pool: RedisPool) -> list[dict]:
    """The clients with key tracking on (CLIENT LIST flag ``t``), on every primary."""
    client = pool.client
    if pool.is_cluster:
        found = []
        for node in client.get_primaries():
            found += await client.client_list(target_nodes=node)
    else:
        found = await client.client_list()
    return [c for c in found if "t" in c["flags"]]


async def test_a_hit_is_answered_from_memory(aioredpat_conn: RedisPool) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    await cache.set(1, User(id=1, name="ada"))
    await _ready(cache, 1)
    assert await cache.get(1) == User(id=1, name="ada")  # read from Redis, remembered
    await reset_command_counts(aioredpat_conn)
    hits = near.hits
    for _ in range(10):
        assert await cache.get(1) == User(id=1, name="ada")
    assert near.hits == hits + 10
    assert await commands(aioredpat_conn) == {}  # not one command sent


@pytest.mark.parametrize("change", ["set", "delete", "expire", "tag"])
async def test_another_clients_change_is_seen(aioredpat_conn: RedisPool, request, change) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    async with _second_pool(aioredpat_conn, request) as other:
        writer = CacheAside(other, namespace="users", ttl=60, model=User)
        await writer.set(1, User(id=1, name="ada"), tags=["team"])
        await _ready(cache, 1)
        assert await cache.get(1) == User(id=1, name="ada")
        assert await cache.get(1) == User(id=1, name="ada")
        assert len(near) == 1
        if change == "set":
            await writer.set(1, User(id=1, name="bob"))
            expected = User(id=1, name="bob")
        elif change == "delete":
            await writer.delete(1)
            expected = None
        elif change == "expire":
            await other.client.pexpire("users:{1}:v", 1)
            expected = None
        else:
            await writer.invalidate_tags("team")
            expected = None
        await eventually(lambda: _returns(cache, 1, expected))
        assert near.invalidations >= 1
        assert len(near) == 0 or expected is not None


async def _returns(cache: CacheAside, key: object, expected: object) -> bool:
    return await cache.get(key) == expected


async def test_a_change_by_another_process_is_seen(
    aioredpat_pool: RedisPool, aioredpat_redis_url: str
) -> None:
    url = aioredpat_redis_url
    near = NearCache()
    cache = CacheAside(aioredpat_pool, namespace="users", ttl=60, model=User, near_cache=near)
    await cache.set(1, User(id=1, name="ada"))
    await _ready(cache, 1)
    assert await cache.get(1) == User(id=1, name="ada")
    script = (
        "import asyncio, sys\n"
        "from aioredpat import CacheAside, RedisPool\n"
        "async def main():\n"
        "    async with RedisPool.from_url(sys.argv[1]) as pool:\n"
        "        cache = CacheAside(pool, namespace='users', ttl=60)\n"
        "        await cache.set(1, {'id': 1, 'name': 'cy'})\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
    assert await process.wait() == 0
    await eventually(lambda: _returns(cache, 1, User(id=1, name="cy")))


async def test_through_sentinel(aioredpat_sentinel) -> None:
    pool = RedisPool.sentinel(aioredpat_sentinel.sentinels, aioredpat_sentinel.service_name)
    async with pool:
        near = NearCache()
        cache = CacheAside(pool, namespace="users", ttl=60, model=User, near_cache=near)
        await cache.set(1, User(id=1, name="ada"))
        await _ready(cache, 1)
        await cache.get(1)
        hits = near.hits
        assert await cache.get(1) == User(id=1, name="ada") and near.hits == hits + 1
        await asyncio.to_thread(aioredpat_sentinel.master.command, "DEL", "users:{1}:v")
        await eventually(lambda: _returns(cache, 1, None))


async def test_own_writes_are_read_back_at_once(aioredpat_conn: RedisPool) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    await cache.set(1, User(id=1, name="ada"))
    await _ready(cache, 1)
    await cache.get(1)
    for n in range(20):
        await cache.set(1, User(id=1, name=str(n)))
        assert await cache.get(1) == User(id=1, name=str(n))
    await cache.delete(1)
    assert await cache.get(1) is None
    await cache.set(2, User(id=2, name="x"), tags=["t"])
    await cache.get(2)
    await cache.invalidate_tags("t")
    assert await cache.get(2) is None


async def test_never_served_past_the_entrys_freshness(aioredpat_conn: RedisPool) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    await _ready(cache, 0)
    await cache.set(1, User(id=1, name="ada"), ttl=0.5)
    assert await cache.get(1) == User(id=1, name="ada")
    await eventually(lambda: _returns(cache, 1, None))


async def test_memory_is_bounded_least_recently_used_out_first(aioredpat_conn: RedisPool) -> None:
    near = NearCache(max_entries=10)
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    for i in range(50):
        await cache.set(i, User(id=i, name=str(i)))
    await _ready(cache, 0)
    for i in range(50):
        await cache.get(i)
    assert len(near) == 10
    assert near.evictions >= 40
    hits = near.hits
    await cache.get(49)
    assert near.hits == hits + 1  # the most recent stayed
    await cache.get(0)
    assert near.hits == hits + 1  # the oldest went


async def test_a_lost_invalidation_connection_drops_every_copy(
    aioredpat_conn: RedisPool, request
) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    async with _second_pool(aioredpat_conn, request) as other:
        writer = CacheAside(other, namespace="users", ttl=60, model=User)
        for i in range(5):
            await writer.set(i, User(id=i, name="old"))
        await _ready(cache, 0)
        for i in range(5):
            await cache.get(i)
        assert len(near) == 5
        resets = near.resets
        for tracking in await _tracking_clients(other):
            await _kill(other, tracking)
        # its invalidations are lost with it: a change now is not heard...
        await writer.set(0, User(id=0, name="new"))
        # ...yet once the loss is seen every copy is gone, and the reads go to Redis
        await eventually(lambda: near.resets >= resets + 1)
        assert await cache.get(0) == User(id=0, name="new")
        await eventually(lambda: near.ready)  # tracking again, on a new connection
        assert len(await _tracking_clients(other)) == (3 if other.is_cluster else 1)


async def _kill(pool: RedisPool, client_info: dict) -> None:
    if pool.is_cluster:
        for node in pool.client.get_primaries():
            if await pool.client.execute_command(
                "CLIENT", "KILL", "ID", client_info["id"], target_nodes=node
            ):
                return
    else:
        await pool.client.execute_command("CLIENT", "KILL", "ID", client_info["id"])


async def test_a_paused_server_stops_serving_from_memory(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url, socket_timeout=0.5) as pool:
        near = NearCache()
        cache = CacheAside(pool, namespace="users", ttl=60, model=User, near_cache=near)
        await cache.set(1, User(id=1, name="ada"))
        await _ready(cache, 1)
        assert await cache.get(1) == User(id=1, name="ada")
        server.pause()
        try:
            # a write elsewhere would not be heard now: within max_staleness the copy is
            # no longer served, and the read goes to the (silent) server
            await eventually(lambda: not near.ready)
            with pytest.raises((RedisTimeoutError, RedisConnectionError)):
                await cache.get(1)
        finally:
            server.resume()
        await eventually(lambda: near.ready)
        assert await cache.get(1) == User(id=1, name="ada")


async def test_an_invalidation_during_a_read_wins(aioredpat_conn: RedisPool, request) -> None:
    """The interleaving: the read registers and leaves, the key changes and its
    invalidation arrives, then the read's (older) value comes back: not remembered."""
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    async with _second_pool(aioredpat_conn, request) as other:
        writer = CacheAside(other, namespace="users", ttl=60, model=User)
        await writer.set(1, User(id=1, name="old"))
        await _ready(cache, 0)
        key = "users:{1}:v"
        read = near.begin(key)
        assert read is not None
        data = await aioredpat_conn.client.get(key)  # the read's reply: "old"
        invalidations = near.invalidations
        await writer.set(1, User(id=1, name="new"))
        await eventually(lambda: read.spoiled)  # the invalidation arrived meanwhile
        entry, value = cache._entries.decode("1", data)
        near.remember(read, entry, value, ())
        assert len(near) == 0 and near.invalidations == invalidations
        assert await cache.get(1) == User(id=1, name="new")


async def test_concurrent_reads_and_writes_settle_on_the_last_value(
    aioredpat_conn: RedisPool, request
) -> None:
    near = NearCache()
    cache = CacheAside(aioredpat_conn, namespace="users", ttl=60, model=User, near_cache=near)
    async with _second_pool(aioredpat_conn, request) as other:
        writer = CacheAside(other, namespace="users", ttl=60, model=User)
        await writer.set(1, User(id=1, name="0"))
        await _ready(cache, 1)
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set():
                await cache.get(1)
                await asyncio.sleep(0)

        readers = [asyncio.create_task(read()) for _ in range(20)]
        for n in range(1, 200):
            await writer.set(1, User(id=1, name=str(n)))
        stop.set()
        await asyncio.gather(*readers)
        await eventually(lambda: _returns(cache, 1, User(id=1, name="199")))
        for _ in range(50):  # and it stays so: no older copy comes back
            assert await cache.get(1) == User(id=1, name="199")


async def test_closing_the_pool_stops_listening(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    pool = RedisPool.from_url(server.url)
    async with RedisPool.from_url(server.url) as observer:
        async with pool:
            cache = CacheAside(pool, namespace="users", ttl=60, near_cache=NearCache())
            await _ready(cache, 1)
            assert len(await _tracking_clients(observer)) == 1
        await eventually(lambda: _no_tracking(observer))
        assert not cache.near_cache.ready


async def _no_tracking(pool: RedisPool) -> bool:
    return not await _tracking_clients(pool)


async def test_write_through_and_cached_take_a_near_cache(aioredpat_conn: RedisPool) -> None:
    rows: dict[str, User] = {"1": User(id=1, name="ada")}

    async def load(key: str) -> User | None:
        return rows.get(key)

    async def write(key: str, value: User) -> None:
        rows[key] = value

    near = NearCache()
    cache = WriteThrough(
        aioredpat_conn, namespace="wt", ttl=60, model=User, loader=load, writer=write,
        near_cache=near,
    )  # fmt: skip
    await _ready(cache, 1)
    await cache.get(1)
    assert await cache.get(1) == User(id=1, name="ada") and near.hits >= 1
    await cache.set(1, User(id=1, name="bob"))
    assert await cache.get(1) == User(id=1, name="bob")

    calls = 0
    near_fn = NearCache()

    @cached(aioredpat_conn, namespace="fn", ttl=60, near_cache=near_fn)
    async def square(n: int) -> int:
        nonlocal calls
        calls += 1
        return n * n

    assert await square(3) == 9
    await eventually(lambda: _square_hit(square, near_fn))
    assert calls == 1


async def _square_hit(square, near: NearCache) -> bool:
    hits = near.hits
    await square(3)
    return near.hits > hits


async def test_misuse(aioredpat_conn: RedisPool) -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        NearCache(max_entries=0)
    with pytest.raises(ConfigurationError, match="near_cache must be a NearCache"):
        CacheAside(aioredpat_conn, namespace="a", ttl=1, near_cache={})  # type: ignore[arg-type]
    near = NearCache()
    CacheAside(aioredpat_conn, namespace="a", ttl=1, near_cache=near)
    with pytest.raises(ConfigurationError, match="its own NearCache"):
        CacheAside(aioredpat_conn, namespace="b", ttl=1, near_cache=near)


async def test_a_cluster_failover_is_followed(aioredpat_cluster_factory) -> None:
    cluster = aioredpat_cluster_factory(
        replicas=1, node_timeout=2000, args=["--cluster-require-full-coverage", "no"]
    )
    masters = cluster.nodes[: cluster.masters]
    urls = [m.url for m in masters]
    async with RedisPool.cluster(urls) as pool, RedisPool.cluster(urls) as other:
        near = NearCache()
        cache = CacheAside(pool, namespace="users", ttl=60, model=User, near_cache=near)
        writer = CacheAside(other, namespace="users", ttl=60, model=User)
        await writer.set(1, User(id=1, name="before"))
        await _ready(cache, 1)
        await cache.get(1)
        assert len(near) == 1
        victim = cluster.master_of("users:{1}:v")
        await asyncio.to_thread(cluster.kill_master, victim)  # its replica takes over
        # tracking follows the new primary; the old node's copies are never served again
        await eventually(lambda: near.ready, bound=60)
        await eventually(lambda: _writes(writer, User(id=1, name="after")), bound=60)
        await eventually(lambda: _returns(cache, 1, User(id=1, name="after")), bound=60)
        await cache.get(1)  # remembered from the new primary
        await writer.set(1, User(id=1, name="again"))  # and its invalidations are heard
        await eventually(lambda: _returns(cache, 1, User(id=1, name="again")))


async def _writes(cache: CacheAside, value: User) -> bool:
    try:
        await cache.set(1, value)
    except Exception:
        return False  # the cluster is still failing over
    return True
