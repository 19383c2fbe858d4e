"""arq's side of bench_queue: enqueue N no-op jobs at once, then a worker runs them.

<arq venv>/bin/python benchmarks/peers/queue_arq.py URL JOBS CONCURRENCY -> JSON line
"""

import asyncio
import json
import sys
import time

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

done = 0
finished = asyncio.Event()


async def noop(ctx, n):
    global done
    done += 1
    if done == TOTAL:
        finished.set()


async def main(url: str, jobs: int, concurrency: int) -> None:
    settings = RedisSettings.from_dsn(url)
    pool = await create_pool(settings)
    began = time.perf_counter()
    await asyncio.gather(*(pool.enqueue_job("noop", i) for i in range(jobs)))
    enqueued = time.perf_counter()
    worker = Worker(
        functions=[noop],
        redis_pool=pool,
        max_jobs=concurrency,
        keep_result=0,
        handle_signals=False,
        poll_delay=0.05,
    )
    task = asyncio.create_task(worker.async_run())
    await finished.wait()
    processed = time.perf_counter()
    print(json.dumps({"enqueue": enqueued - began, "process": processed - enqueued}), flush=True)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pool.aclose()


if __name__ == "__main__":
    TOTAL = int(sys.argv[2])
    asyncio.run(main(sys.argv[1], TOTAL, int(sys.argv[3])))
