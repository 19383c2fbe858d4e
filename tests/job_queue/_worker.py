"""A queue worker process (for the SIGKILL test).

python -m tests.job_queue._worker <standalone|cluster> <url>[,<url>...] <queue> <name>

Each handler call appends the job's id to the list "{<queue>}:runs:<name>", then works
for 50 ms. Visibility timeout 2 s, concurrency 4.
"""

from __future__ import annotations

import asyncio
import sys

from aioredpat import Job, JobQueue, RedisPool


async def main(kind: str, urls: str, name: str, worker: str) -> None:
    pool = RedisPool.cluster(urls.split(",")) if kind == "cluster" else RedisPool.from_url(urls)

    async def handler(job: Job[int]) -> None:
        await pool.client.rpush(f"{{{name}}}:runs:{worker}", job.id)
        await asyncio.sleep(0.05)

    async with pool:
        queue = JobQueue(pool, name, model=int, visibility_timeout=2.0)
        await queue.worker(handler, concurrency=4).run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
