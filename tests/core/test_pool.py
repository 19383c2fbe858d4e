from __future__ import annotations

import asyncio

import anyio
import pytest
import redis
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredpat import ConfigurationError, RedisPool
from aioredpat._executor import executor_for


async def test_from_url_round_trip(aioredpat_redis_url: str) -> None:
    async with RedisPool.from_url(aioredpat_redis_url) as pool:
        assert not pool.is_cluster
        await pool.client.set("pool:from_url", b"v")
        assert await pool.client.get("pool:from_url") == b"v"


async def test_cluster_pool_reaches_every_slot(aioredpat_cluster_pool: RedisPool) -> None:
    assert aioredpat_cluster_pool.is_cluster
    keys = [f"pool:cluster:{i}" for i in range(60)]
    for key in keys:
        await aioredpat_cluster_pool.client.set(key, key)
    nodes_used = {aioredpat_cluster_pool.client.get_node_from_key(k).port for k in keys}
    assert len(nodes_used) == 3
    assert [await aioredpat_cluster_pool.client.get(k) for k in keys] == [k.encode() for k in keys]


async def test_sentinel_pool_writes_to_the_master(aioredpat_sentinel) -> None:
    pool = RedisPool.sentinel(aioredpat_sentinel.sentinels, aioredpat_sentinel.service_name)
    async with pool:
        await pool.client.set("pool:sentinel", b"through-sentinel")
        assert await pool.client.get("pool:sentinel") == b"through-sentinel"
    assert aioredpat_sentinel.master.command("GET", "pool:sentinel") == b"through-sentinel"


async def test_users_own_clients_are_accepted(aioredpat_redis_url: str, aioredpat_cluster) -> None:
    client = Redis.from_url(aioredpat_redis_url)
    cluster = RedisCluster.from_url(aioredpat_cluster.urls[0])
    try:
        for own in (client, cluster):
            executor = executor_for(own)
            assert executor.client is own
            assert executor_for(own) is executor  # one executor per client, shared
            assert await executor.execute("PING") is True
    finally:
        await client.aclose()
        await cluster.aclose()


async def test_decode_responses_client_is_refused(aioredpat_redis_url: str) -> None:
    client = Redis.from_url(aioredpat_redis_url, decode_responses=True)
    try:
        with pytest.raises(ConfigurationError, match="decode_responses"):
            executor_for(client)
    finally:
        await client.aclose()


def test_sync_client_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"redis\.client\.Redis"):
        executor_for(redis.Redis())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_connections": 0}, "max_connections"),
        ({"pool_timeout": -1}, "pool_timeout"),
        ({"retries": -1}, "retries"),
    ],
)
def test_bad_pool_configuration_fails_at_construction(options, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisPool.from_url("redis://127.0.0.1:1", **options)
    with pytest.raises(ConfigurationError, match=message):
        RedisPool.cluster(["redis://127.0.0.1:1"], **options)


def test_cluster_needs_urls() -> None:
    with pytest.raises(ConfigurationError, match="at least one"):
        RedisPool.cluster([])
    with pytest.raises(ConfigurationError, match="at least one"):
        RedisPool.sentinel([], "svc")


async def _burst(pool: RedisPool, calls: int) -> list[object]:
    executor = executor_for(pool)
    return await asyncio.gather(
        *(executor.execute("INCR", f"pool:burst:{i % 7}") for i in range(calls))
    )


async def test_burst_waits_for_connections_standalone(aioredpat_redis_url: str) -> None:
    before = await _client_count(aioredpat_redis_url)
    async with RedisPool.from_url(aioredpat_redis_url, max_connections=4) as pool:
        await pool.client.flushall()
        results = await _burst(pool, 3000)
        assert len(results) == 3000
        # the admin connection of _client_count is one more client
        assert await _client_count(aioredpat_redis_url) <= before + 4 + 1
        total = sum([int(await pool.client.get(f"pool:burst:{i}")) for i in range(7)])
        assert total == 3000


async def test_burst_waits_for_connections_cluster(aioredpat_cluster) -> None:
    async with RedisPool.cluster(aioredpat_cluster.urls, max_connections=4) as pool:
        await pool.client.flushall(target_nodes=RedisCluster.PRIMARIES)
        results = await _burst(pool, 3000)
        assert len(results) == 3000
        for node in aioredpat_cluster.nodes:
            clients = node.command("CLIENT", "LIST", "TYPE", "normal").splitlines()
            assert 1 <= len([c for c in clients if b" cmd=incr " in c]) <= 4
        total = sum([int(await pool.client.get(f"pool:burst:{i}")) for i in range(7)])
        assert total == 3000


async def test_pool_timeout_raises_when_nothing_frees(aioredpat_redis_url: str) -> None:
    async with RedisPool.from_url(aioredpat_redis_url, max_connections=1, pool_timeout=0.2) as pool:
        blocker = asyncio.create_task(pool.client.blpop(["pool:never"], timeout=3))
        await asyncio.sleep(0.1)
        with pytest.raises(RedisConnectionError):
            await pool.client.get("pool:other")
        assert await blocker is None


async def _client_count(url: str) -> int:
    async with Redis.from_url(url) as admin:
        return len(await admin.client_list())


async def test_aclose_closes_connections(aioredpat_redis_url: str) -> None:
    before = await _client_count(aioredpat_redis_url)
    pool = RedisPool.from_url(aioredpat_redis_url)
    async with pool:
        await asyncio.gather(*(pool.client.ping() for _ in range(5)))
        assert await _client_count(aioredpat_redis_url) > before
    assert await _client_count(aioredpat_redis_url) == before


async def test_calls_survive_a_server_restart(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url) as pool:
        await pool.client.set("pool:restart", 1)
        server.kill()
        server.start()
        assert await pool.client.set("pool:restart", 2) is True
        assert await pool.client.get("pool:restart") == b"2"


async def test_cancelled_waiters_do_not_lose_wake_ups(aioredpat_redis_url: str) -> None:
    async with RedisPool.from_url(
        aioredpat_redis_url, max_connections=1, pool_timeout=None
    ) as pool:
        await pool.client.delete("pool:gate")
        holder = asyncio.create_task(pool.client.blpop(["pool:gate"], timeout=0))
        await asyncio.sleep(0.05)  # the holder has the only connection
        waiters = [asyncio.create_task(pool.client.incr("pool:woken")) for _ in range(4)]
        await asyncio.sleep(0.05)
        waiters[0].cancel()
        waiters[2].cancel()
        async with Redis.from_url(aioredpat_redis_url) as other:
            await other.rpush("pool:gate", "go")  # the holder returns its connection
        assert list(await holder) == [b"pool:gate", b"go"]
        done = await asyncio.gather(*waiters, return_exceptions=True)
        assert [isinstance(d, asyncio.CancelledError) for d in done] == [True, False, True, False]
        assert await pool.client.get("pool:woken") == b"2"


async def _cancel_at_every_step(client, key: str) -> list[str]:
    outcomes = []
    for steps in range(6):
        task = asyncio.create_task(client.get(key))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        outcome = (await asyncio.gather(task, return_exceptions=True))[0]
        outcomes.append(type(outcome).__name__)
    return outcomes


async def test_a_cancelled_command_always_raises_cancelled_error(aioredpat_conn: RedisPool) -> None:
    # Python 3.11's asyncio.wait_for, which redis-py bounds writes with, can drop a
    # cancellation that lands as the write completes; the pool's connections do not.
    await aioredpat_conn.client.set("cancel:k", "v")
    assert set(await _cancel_at_every_step(aioredpat_conn.client, "cancel:k")) == {"CancelledError"}
    assert await aioredpat_conn.client.get("cancel:k") == b"v"  # and the connections still work


async def test_a_cancelled_command_on_sentinel_raises_cancelled_error(aioredpat_sentinel) -> None:
    async with RedisPool.sentinel(
        aioredpat_sentinel.sentinels, aioredpat_sentinel.service_name
    ) as pool:
        await pool.client.set("cancel:k", "v")
        assert set(await _cancel_at_every_step(pool.client, "cancel:k")) == {"CancelledError"}


async def test_sentinel_pool_follows_a_failover() -> None:
    from aioredpat.testing import SentinelGroup

    with SentinelGroup(service_name="failover") as group:
        async with RedisPool.sentinel(group.sentinels, group.service_name) as pool:
            await pool.client.set("failover:k", "before")
            await wait_for_replica(group)
            group.master.kill()
            with anyio.fail_after(60):  # the sentinel needs ~1 s to see it down, then promotes
                while True:
                    address = group.sentinel.command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", group.service_name
                    )
                    if int(address[1]) == group.replica.port:
                        break
                    await asyncio.sleep(0.1)
            with anyio.fail_after(30):
                while True:  # the pool's first calls may still meet the dead master
                    try:
                        await pool.client.set("failover:k", "after")
                        break
                    except (RedisConnectionError, RedisTimeoutError, ReadOnlyError):
                        await asyncio.sleep(0.2)
            assert await pool.client.get("failover:k") == b"after"
            assert group.replica.command("GET", "failover:k") == b"after"  # the new master


async def wait_for_replica(group) -> None:
    with anyio.fail_after(30):
        while group.replica.command("GET", "failover:k") != b"before":  # noqa: ASYNC110 - replication
            await asyncio.sleep(0.05)
