"""A standalone worker: consumes "jobs" with a StreamConsumer until SIGTERM or SIGINT.

    REDIS_URL=redis://localhost:6379/0 python -m examples.worker [consumer-name]

Each job squares a number and stores the result in the hash "jobs:results"; a job whose
number is negative is poison and ends in "jobs:dead" after three tries. On SIGTERM the
worker stops reading, finishes the jobs in flight, acknowledges them and exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

import pydantic

from aioredpat import RedisPool, StreamConsumer, StreamMessage


class Job(pydantic.BaseModel):
    id: int
    number: int


async def main(name: str) -> None:
    async with RedisPool.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0")) as pool:

        async def square(message: StreamMessage[Job]) -> None:
            job = message.data
            if job.number < 0:
                raise ValueError(f"job {job.id}: negative input")
            await asyncio.sleep(0.001)
            await pool.client.hset("jobs:results", str(job.id), job.number**2)

        consumer = StreamConsumer(
            pool, "jobs", group="squarers", consumer=name, handler=square, model=Job,
            concurrency=8, max_deliveries=3, claim_idle=1.0, dead_letter="jobs:dead",
        )  # fmt: skip
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with consumer:
            print(f"worker {name} running", flush=True)
            await stop.wait()
        print(f"worker {name} stopped after {consumer.processed} jobs", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else socket.gethostname()))
