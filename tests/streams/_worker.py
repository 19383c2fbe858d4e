"""A consumer process that takes entries and never finishes them (for the SIGKILL test).

python -m tests.streams._worker <standalone|cluster> <url>[,<url>...] <stream>

Each handler call adds its entry id to the set "<stream>:started", then waits forever.
"""

from __future__ import annotations

import asyncio
import sys

from aioredpat import RedisPool, StreamConsumer, StreamMessage


async def main(kind: str, urls: str, stream: str) -> None:
    pool = RedisPool.cluster(urls.split(",")) if kind == "cluster" else RedisPool.from_url(urls)

    async def handler(message: StreamMessage[dict[str, object]]) -> None:
        await pool.client.sadd(f"{{{stream}}}:started", message.id)
        await asyncio.Event().wait()

    async with pool:
        consumer = StreamConsumer(
            pool, stream, group="workers", consumer="doomed", handler=handler,
            model=dict, concurrency=4, batch_size=20, claim_idle=60,
        )  # fmt: skip
        await consumer.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
