"""A write-behind flusher process whose writer is slow (for the SIGKILL test).

python -m tests.cache._flusher <standalone|cluster> <url>[,<url>...] <sqlite path>

Writes batches into the "counters" table; each batch takes a while, so that the process
is killed in the middle of one.
"""

from __future__ import annotations

import asyncio
import sys

import aiosqlite

from aioredpat import RedisPool, WriteBehind


async def main(kind: str, urls: str, path: str) -> None:
    pool = RedisPool.cluster(urls.split(",")) if kind == "cluster" else RedisPool.from_url(urls)
    async with pool, aiosqlite.connect(path) as db:

        async def writer(batch) -> None:
            await pool.client.incr("{test}:batches-started")
            await asyncio.sleep(0.5)  # the kill lands here
            await db.executemany(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(key, value) for key, value in batch],
            )
            await db.commit()

        wb = WriteBehind(pool, namespace="wb", ttl=600, writer=writer, model=int,
                         batch_size=10, flush_interval=0.05, claim_idle=1.0)  # fmt: skip
        async with wb:
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
