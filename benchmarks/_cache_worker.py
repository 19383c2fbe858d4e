"""One process of the stampede run: N concurrent misses of one key, started together.

python -m benchmarks._cache_worker <url> <tasks> <key>

Waits for the go signal (BLPOP on "bench:go"), then runs <tasks> concurrent
``CacheAside.get(key)``; the loader takes 100 ms and counts its calls with INCR
"bench:loader-calls". Prints nothing; exits non-zero if any get returned a wrong value.
"""

from __future__ import annotations

import asyncio
import sys

import pydantic

from aioredpat import CacheAside, RedisPool


class Product(pydantic.BaseModel):
    sku: str
    price: int


async def main(url: str, tasks: int, key: str) -> int:
    async with RedisPool.from_url(url) as pool:

        async def loader(sku: str) -> Product:
            await pool.client.incr("bench:loader-calls")
            await asyncio.sleep(0.1)
            return Product(sku=sku, price=42)

        cache = CacheAside(pool, namespace="stampede", ttl=60, model=Product, loader=loader)
        # open the connections the burst will use before the counting starts
        await asyncio.gather(*(pool.client.ping() for _ in range(tasks)))
        await pool.client.blpop(["bench:go"], timeout=60)
        results = await asyncio.gather(*(cache.get(key) for _ in range(tasks)))
    return 0 if all(r == Product(sku=key, price=42) for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3])))
