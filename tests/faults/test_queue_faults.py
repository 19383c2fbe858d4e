"""Job queues under faults: a crash of the server loses no job a worker had taken."""

from __future__ import annotations

import asyncio

import anyio

from aioredpat import Job, JobQueue, QueueStats, RedisPool
from tests._wait import eventually

EMPTY = QueueStats(waiting=0, delayed=0, running=0, dead=0)


async def test_every_job_completes_across_a_server_restart(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory(args=["--appendonly", "yes", "--appendfsync", "always"])
    async with RedisPool.from_url(server.url, socket_timeout=2.0) as pool:
        queue = JobQueue(pool, "mail", model=int, visibility_timeout=5.0, retry_delay=0.05)
        ids = set(await asyncio.gather(*(queue.enqueue(i) for i in range(200))))
        handled: list[str] = []

        async def send(job: Job[int]) -> None:
            await asyncio.sleep(0.01)
            handled.append(job.id)

        async with queue.worker(send, concurrency=4):
            await eventually(lambda: len(handled) >= 50)
            await anyio.to_thread.run_sync(server.restart)  # SIGKILL, then start on its AOF
            await eventually(lambda: set(handled) == ids, bound=60)
            await eventually(lambda: _stats_are(queue, EMPTY), bound=60)
        assert set(handled) == ids
        assert len(handled) - len(ids) <= 4  # at most the jobs running at the crash, again


async def test_a_worker_rides_out_a_paused_server(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url, socket_timeout=0.5) as pool:
        queue = JobQueue(pool, "mail", model=int, visibility_timeout=30.0)
        handled: list[int] = []

        async def send(job: Job[int]) -> None:
            handled.append(job.data)

        async with queue.worker(send, concurrency=2):
            await queue.enqueue(0)
            await eventually(lambda: handled == [0])
            server.pause()
            try:
                await anyio.sleep(1.5)  # three socket timeouts: the worker's calls fail
            finally:
                server.resume()
            for i in range(1, 4):
                await queue.enqueue(i)
            await eventually(lambda: sorted(handled) == [0, 1, 2, 3])
            await eventually(lambda: _stats_are(queue, EMPTY))


async def _stats_are(queue: JobQueue[int], stats: QueueStats) -> bool:
    return await queue.stats() == stats
