"""A process that increments a counter non-atomically under a Lock (for the exclusion test).

python -m tests.lock._worker <standalone|cluster> <url>[,<url>...] <tasks> <rounds>
"""

from __future__ import annotations

import asyncio
import sys

from aioredpat import Lock, RedisPool


async def main(kind: str, urls: str, tasks: int, rounds: int) -> None:
    pool = RedisPool.cluster(urls.split(",")) if kind == "cluster" else RedisPool.from_url(urls)
    async with pool:
        lock = Lock(pool, "exclusion", ttl=10.0)

        async def worker() -> None:
            for _ in range(rounds):
                async with lock:
                    value = int(await pool.client.get("exclusion:counter") or 0)
                    await asyncio.sleep(0.001)  # widen the window a lost update would need
                    await pool.client.set("exclusion:counter", value + 1)

        await asyncio.gather(*(worker() for _ in range(tasks)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
