"""aioredpat's side of bench_queue, run as a process like the others.

python benchmarks/peers/queue_aioredpat.py URL JOBS CONCURRENCY -> JSON line
"""

import asyncio
import json
import sys
import time

from aioredpat import Job, JobQueue, RedisPool


async def main(url: str, jobs: int, concurrency: int) -> None:
    done = 0
    finished = asyncio.Event()

    async def noop(job: Job[int]) -> None:
        nonlocal done
        done += 1
        if done == jobs:
            finished.set()

    async with RedisPool.from_url(url) as pool:
        queue = JobQueue(pool, "bench", model=int)
        began = time.perf_counter()
        await asyncio.gather(*(queue.enqueue(i) for i in range(jobs)))
        enqueued = time.perf_counter()
        async with queue.worker(noop, concurrency=concurrency):
            await finished.wait()
            processed = time.perf_counter()
    print(json.dumps({"enqueue": enqueued - began, "process": processed - enqueued}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
