"""The operator commands against real servers: doctor, inspect, dlq (as a user runs them)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pydantic
import pytest

from aioredpat import (
    CacheAside,
    Job,
    JobQueue,
    Lock,
    RedisPool,
    SlidingWindow,
    StreamConsumer,
    StreamMessage,
    StreamProducer,
)
from tests._wait import eventually

ROOT = Path(__file__).resolve().parents[2]


class Order(pydantic.BaseModel):
    id: int


async def cli(*args: str) -> tuple[int, str]:
    """``aioredpat ARGS`` in a process of its own; its exit code and stdout."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aioredpat", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + (
        "" if process.returncode in (0, 1, 2) else err.decode()
    )


def verdicts(output: str) -> dict[str, str]:
    return {check["name"]: check["status"] for check in json.loads(output)["checks"]}


async def test_doctor_passes_a_healthy_server(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory(
        args=["--appendonly", "yes", "--maxmemory", "512mb", "--maxmemory-policy", "noeviction"]
    )
    async with RedisPool.from_url(server.url) as pool:
        await CacheAside(pool, namespace="products", ttl=60).set("p1", {"price": 1})
        await StreamProducer(pool, "orders").publish({"id": 1})
        changes = (await pool.client.info("persistence"))["rdb_changes_since_last_save"]
        code, out = await cli("doctor", "--url", server.url, "--json")
        assert code == 0, out
        assert set(verdicts(out).values()) == {"pass"}
        # it only read: nothing changed on the server
        assert (await pool.client.info("persistence"))["rdb_changes_since_last_save"] == changes


async def test_doctor_fails_allkeys_eviction_with_a_stream(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory(
        args=["--maxmemory", "512mb", "--maxmemory-policy", "allkeys-lru"]
    )
    async with RedisPool.from_url(server.url) as pool:
        await StreamProducer(pool, "orders").publish({"id": 1})
    code, out = await cli("doctor", "--url", server.url, "--json")
    assert code == 1
    found = verdicts(out)
    assert found["eviction policy"] == "fail"
    assert found["persistence"] == "warn"  # a stream, and no AOF
    detail = {c["name"]: c["detail"] for c in json.loads(out)["checks"]}
    assert "allkeys-lru" in detail["eviction policy"] and "stream" in detail["eviction policy"]


async def test_doctor_warns_of_a_cache_key_without_a_ttl(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory(args=["--maxmemory", "512mb"])
    async with RedisPool.from_url(server.url) as pool:
        cache = CacheAside(pool, namespace="products", ttl=60)
        await cache.set("p1", {"price": 1})
        await cache.set("p2", {"price": 2})
        await pool.client.persist("products:{p1}:v")
    code, out = await cli("doctor", "--url", server.url, "--json")
    assert code == 0
    assert verdicts(out)["keys without a TTL"] == "warn"
    detail = {c["name"]: c["detail"] for c in json.loads(out)["checks"]}
    assert (
        "1 cache" in detail["keys without a TTL"]
        and "products:{p1}:v" in detail["keys without a TTL"]
    )


async def test_doctor_cannot_reach_a_server(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    url = server.url
    server.kill()
    code, out = await cli("doctor", "--url", url, "--json")
    assert code == 2
    assert "cannot connect" in json.loads(out)["error"]


async def test_doctor_on_a_cluster(aioredpat_cluster) -> None:
    code, out = await cli("doctor", "--url", aioredpat_cluster.urls[0], "--json")
    assert verdicts(out)["cluster"] == "pass"
    assert code in (0, 1)


async def test_inspect_each_kind(aioredpat_redis_url: str, aioredpat_pool: RedisPool) -> None:
    url = aioredpat_redis_url
    async with Lock(aioredpat_pool, "invoice", ttl=30) as lease:
        code, out = await cli("inspect", "lock", "invoice", "--url", url, "--json")
        found = json.loads(out)
        assert code == 0 and found["held"] and found["fencing_token"] == lease.fencing_token
        assert 0 < found["ttl_left"] <= 30 and found["waiters"] == 0

    limiter = SlidingWindow(aioredpat_pool, namespace="api", limit=5, window=60)
    for _ in range(3):
        await limiter.hit("user-1")
    code, out = await cli("inspect", "limiter", "api", "user-1", "--url", url, "--json")
    [key] = json.loads(out)["keys"]
    assert key["type"] == "zset" and key["entries"] == 3

    await StreamProducer(aioredpat_pool, "orders", model=Order).publish_many(
        [Order(id=i) for i in range(3)]
    )
    await aioredpat_pool.client.xgroup_create("orders", "billing", "0")
    await aioredpat_pool.client.xreadgroup("billing", "worker-1", {"orders": ">"}, count=2)
    code, out = await cli("inspect", "stream", "orders", "--url", url, "--json")
    stream = json.loads(out)
    [group] = stream["groups"]
    assert stream["length"] == 3 and group["pending"] == 2
    assert group["consumers"] == [
        {"name": "worker-1", "pending": 2, "idle": group["consumers"][0]["idle"]}
    ]

    queue = JobQueue(aioredpat_pool, "emails", model=int)
    await queue.enqueue(1)
    await queue.enqueue(2, delay=60)
    code, out = await cli("inspect", "queue", "emails", "--url", url, "--json")
    found = json.loads(out)
    assert (found["waiting"], found["delayed"], found["running"], found["dead"]) == (1, 1, 0, 0)
    assert 0 < found["next_due_in"] <= 60


async def test_dlq_replay_puts_dead_letters_back(
    aioredpat_redis_url: str, aioredpat_pool: RedisPool
) -> None:
    url = aioredpat_redis_url
    await StreamProducer(aioredpat_pool, "orders", model=Order).publish_many(
        [Order(id=i) for i in range(3)]
    )
    failing = True
    handled: list[int] = []

    async def handle(message: StreamMessage[Order]) -> None:
        if failing:
            raise ValueError("payment provider down")
        handled.append(message.data.id)

    options = {"group": "g", "consumer": "c", "handler": handle, "model": Order,
               "max_deliveries": 1, "dead_letter": "orders:dead"}  # fmt: skip
    async with StreamConsumer(aioredpat_pool, "orders", **options):
        await eventually(lambda: _xlen(aioredpat_pool, "orders:dead", 3))
    code, out = await cli("dlq", "list", "orders:dead", "--url", url, "--json")
    assert [e["error"] for e in json.loads(out)] == ["ValueError('payment provider down')"] * 3
    code, out = await cli("dlq", "replay", "orders:dead", "--url", url, "--dry-run", "--json")
    assert json.loads(out)["would_replay"] == 3
    assert await aioredpat_pool.client.xlen("orders:dead") == 3  # a dry run moves nothing
    code, out = await cli("dlq", "replay", "orders:dead", "--url", url, "--json")
    assert code == 0
    assert json.loads(out)["replayed"] == 3 and json.loads(out)["to"] == {"orders": 3}
    assert await aioredpat_pool.client.xlen("orders:dead") == 0
    failing = False
    async with StreamConsumer(aioredpat_pool, "orders", **options):
        await eventually(lambda: sorted(handled) == [0, 1, 2])


async def test_dlq_replay_and_purge_dead_jobs(
    aioredpat_redis_url: str, aioredpat_pool: RedisPool
) -> None:
    url = aioredpat_redis_url
    queue = JobQueue(aioredpat_pool, "emails", model=int, max_attempts=1)
    for i in range(3):
        await queue.enqueue(i)

    async def fail(job: Job[int]) -> None:
        raise RuntimeError("smtp down")

    async with queue.worker(fail):
        await eventually(lambda: _dead(queue, 3))
    code, out = await cli("dlq", "list", "queue:emails", "--url", url, "--json")
    assert [e["error"] for e in json.loads(out)] == ["RuntimeError('smtp down')"] * 3
    code, out = await cli("dlq", "replay", "queue:emails", "--url", url, "--json")
    assert json.loads(out)["replayed"] == 3
    assert (await queue.stats()).waiting == 3 and (await queue.stats()).dead == 0
    async with queue.worker(fail):
        await eventually(lambda: _dead(queue, 3))
    code, out = await cli("dlq", "purge", "queue:emails", "--url", url, "--json")
    assert code == 0
    assert json.loads(out)["purged"] == 3
    assert await queue.stats() == (await queue.stats()).__class__(0, 0, 0, 0)
    assert [k async for k in aioredpat_pool.client.scan_iter("queue:*")] == []


async def _xlen(pool: RedisPool, key: str, n: int) -> bool:
    return await pool.client.xlen(key) == n


async def _dead(queue: JobQueue, n: int) -> bool:
    return (await queue.stats()).dead == n


async def test_version_and_the_table_output(aioredpat_redis_url: str) -> None:
    code, out = await cli("--version")
    assert code == 0 and out.startswith("aioredpat ")
    code, out = await cli("doctor", "--url", aioredpat_redis_url)
    assert "server version" in out and "eviction policy" in out  # a rich table
    pytest.importorskip("rich")
