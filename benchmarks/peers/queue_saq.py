"""saq's side of bench_queue: enqueue N no-op jobs at once, then a worker runs them.

<saq venv>/bin/python benchmarks/peers/queue_saq.py URL JOBS CONCURRENCY -> JSON line
"""

import asyncio
import json
import sys
import time

from saq import Queue, Worker

done = 0
finished = asyncio.Event()


async def noop(ctx, *, n):
    global done
    done += 1
    if done == TOTAL:
        finished.set()


async def main(url: str, jobs: int, concurrency: int) -> None:
    queue = Queue.from_url(url)
    await queue.connect()
    began = time.perf_counter()
    await asyncio.gather(*(queue.enqueue("noop", n=i) for i in range(jobs)))
    enqueued = time.perf_counter()
    worker = Worker(queue, functions=[noop], concurrency=concurrency)
    task = asyncio.create_task(worker.start())
    await finished.wait()
    processed = time.perf_counter()
    print(json.dumps({"enqueue": enqueued - began, "process": processed - enqueued}), flush=True)
    await worker.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await queue.disconnect()


if __name__ == "__main__":
    TOTAL = int(sys.argv[2])
    asyncio.run(main(sys.argv[1], TOTAL, int(sys.argv[3])))
