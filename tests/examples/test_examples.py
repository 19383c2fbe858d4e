from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import anyio
import httpx
from aiohttp.test_utils import TestClient, TestServer

from aioredpat import RedisPool, StreamProducer
from examples import aiohttp_app, fastapi_app
from examples.worker import Job

ROOT = Path(__file__).resolve().parents[2]


async def test_fastapi_app(aioredpat_redis_url: str, aioredpat_pool: RedisPool) -> None:
    app = fastapi_app.create_app(aioredpat_redis_url)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://shop") as client,
    ):
        replies = await asyncio.gather(*(client.get("/products/sku-3") for _ in range(10)))
        assert {r.status_code for r in replies} == {200}
        assert replies[0].json() == {"sku": "sku-3", "name": "Product 3", "price": 300}
        assert "ratelimit" in {h.lower() for h in replies[0].headers}
        assert (await client.get("/stats")).json() == {"database_reads": 1}  # cached
        assert (await client.get("/products/nope")).status_code == 404
        payments = await asyncio.gather(*(client.post("/invoices/inv-1/pay") for _ in range(3)))
        paid = [r.json() for r in payments if r.status_code == 200 and r.json()["paid"]]
        assert len(paid) == 1  # the lock lets one payment through
        statuses = [(await client.get("/stats")).status_code for _ in range(20)]
        assert 429 in statuses  # the bucket of 20 is spent


async def test_aiohttp_app(aioredpat_redis_url: str, aioredpat_pool: RedisPool) -> None:
    app = aiohttp_app.create_app(aioredpat_redis_url)
    async with TestClient(TestServer(app)) as client:
        replies = [await client.get("/forecast/Lisbon") for _ in range(3)]
        assert [r.status for r in replies] == [200, 200, 200]
        assert await replies[0].json() == {"city": "Lisbon", "high": 21, "low": 12}
        stats = await client.get("/stats")
        assert (await stats.json()) == {"upstream_lookups": 1}
        statuses = [(await client.get("/stats")).status for _ in range(12)]
        assert 429 in statuses


async def test_worker_processes_jobs_and_stops_on_sigterm(
    aioredpat_redis_url: str, aioredpat_pool: RedisPool
) -> None:
    env = {**os.environ, "REDIS_URL": aioredpat_redis_url}
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "examples.worker", "w1", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert worker.stdout is not None
        with anyio.fail_after(30):
            assert b"running" in await worker.stdout.readline()
        producer = StreamProducer(aioredpat_pool, "jobs", model=Job)
        await producer.publish_many(Job(id=i, number=i) for i in range(50))
        await producer.publish(Job(id=99, number=-1))
        with anyio.fail_after(60):
            while await aioredpat_pool.client.hlen("jobs:results") < 50 or not (  # noqa: ASYNC110
                await aioredpat_pool.client.xlen("jobs:dead")
            ):
                await asyncio.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        with anyio.fail_after(30):
            out, _ = await worker.communicate()
        assert worker.returncode == 0
        assert b"stopped after 50 jobs" in out
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    results = await aioredpat_pool.client.hgetall("jobs:results")
    assert {int(k): int(v) for k, v in results.items()} == {i: i * i for i in range(50)}
    assert (await aioredpat_pool.client.xpending("jobs", "squarers"))["pending"] == 0
