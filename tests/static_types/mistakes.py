"""The mistakes a user makes, each of which ``mypy --strict`` must flag on its line (the
comment names the error code the test expects there)."""

from __future__ import annotations

from pydantic import BaseModel

import aioredpat


class Product(BaseModel):
    id: str


class Order(BaseModel):
    id: str


async def handle(message: aioredpat.StreamMessage[Order]) -> None:
    return None


async def main(pool: aioredpat.RedisPool) -> None:
    cache = aioredpat.CacheAside(pool, namespace="p", ttl=60, model=Product)
    await cache.set("p1", Order(id="o1"))  # error: arg-type
    await cache.set("p1", None)  # error: arg-type
    aioredpat.CacheAside(pool, namespace="p", ttl=60, stale_tll=5)  # error: call-overload
    aioredpat.CacheAside(object(), namespace="p", ttl=60)  # error: call-overload
    aioredpat.StreamConsumer(  # error: call-overload
        pool, "s", group="g", consumer="c", handler=handle, concurrancy=8
    )
    aioredpat.StreamConsumer(
        pool,
        "s",
        group="g",
        consumer="c",
        model=Product,
        handler=handle,  # error: arg-type
    )
    producer = aioredpat.StreamProducer(pool, "s", model=Product)
    await producer.publish("a string")  # error: arg-type

    @aioredpat.cached(pool, namespace="f", ttl=60)
    async def product(key: str) -> Product:
        return Product(id=key)

    await product.invalidate(1)  # error: arg-type
    await product.invalidate("p1", "p2")  # error: call-arg
    aioredpat.Lock(pool, "n", ttl="10s")  # error: arg-type
    feed = aioredpat.ActivityFeed(pool, namespace="f", maxlen=10, model=Product)
    await feed.push("k", Order(id="o1"))  # error: arg-type
    jobs = aioredpat.JobQueue(pool, "emails", model=Product)
    await jobs.enqueue(Order(id="o1"))  # error: arg-type
    jobs.worker(handle_job_of_another_model)  # error: arg-type


async def handle_job_of_another_model(job: aioredpat.Job[Order]) -> None:
    return None
