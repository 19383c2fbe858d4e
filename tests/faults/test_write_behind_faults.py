"""Write-behind under a Redis restart and an outage longer than the shard lease."""

from __future__ import annotations

import asyncio
import random

import anyio
import pytest
from redis.exceptions import RedisError

from aioredpat import RedisPool, WriteBehind

KEYS = 20
CLAIM_IDLE = 1.0


class Database:
    """Commits batches after 0-60 ms; counts every value older than the one it holds."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.regressions = 0

    async def write(self, batch) -> None:
        await asyncio.sleep(random.uniform(0, 0.06))
        for key, value in batch:
            if value < self.rows.get(key, -1):
                self.regressions += 1
            self.rows[key] = value


async def _write_forever(wb: WriteBehind[int], latest: dict[str, int]) -> None:
    value = 0
    while True:
        value += 1
        key = f"hot-{value % KEYS}"
        try:
            await wb.set(key, value)
        except (RedisError, OSError):
            await asyncio.sleep(0.05)  # Redis is down: the application tries again
            continue
        latest[key] = value
        await asyncio.sleep(0.002)


async def _set_until_it_lands(wb: WriteBehind[int], key: str, value: int) -> None:
    while True:  # as an application would, right after an outage
        try:
            await wb.set(key, value)
            return
        except (RedisError, OSError):
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("outage", ["restart", "longer-than-the-lease"])
async def test_one_loop_per_shard_keeps_each_keys_writes_in_order(aioredpat_server_factory, outage):
    server = aioredpat_server_factory(args=["--appendonly", "yes", "--appendfsync", "always"])
    database, latest = Database(), {}
    async with RedisPool.from_url(server.url) as pool:
        wb = WriteBehind(
            pool, namespace="wb", ttl=600, writer=database.write, model=int,
            batch_size=10, flush_interval=0.02, claim_idle=CLAIM_IDLE,
        )  # fmt: skip
        async with wb:
            async with anyio.create_task_group() as writers:
                writers.start_soon(_write_forever, wb, latest)
                for _ in range(3):
                    while len(database.rows) < KEYS:  # noqa: ASYNC110 - the writer's state
                        await asyncio.sleep(0.01)
                    server.kill()
                    if outage == "longer-than-the-lease":
                        await asyncio.sleep(2 * CLAIM_IDLE)  # the fault: down past the lease
                    server.start()  # the queue and the lease come back from the AOF
                    database.rows.clear()  # every key must be written again after it
                while len(database.rows) < KEYS:  # noqa: ASYNC110 - the writer's state
                    await asyncio.sleep(0.01)
                writers.cancel_scope.cancel()
            for i in range(KEYS):  # a set that failed may have landed: end on known values
                latest[f"hot-{i}"] = 10**6 + i
                with anyio.fail_after(60):
                    await _set_until_it_lands(wb, f"hot-{i}", 10**6 + i)
            with anyio.fail_after(60):
                await wb.flush()
    assert database.regressions == 0
    assert {key: database.rows.get(key) for key in latest} == latest
