"""A user's module written the way the docs show: ``mypy --strict`` must accept it, and
every ``assert_type`` states what the user is promised to get back."""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

import aioredpat


class Product(BaseModel):
    id: str
    price: float


async def load_product(key: str) -> dict[str, Any]:
    return {"id": key, "price": 1.0}


async def write_product(key: str, value: Product) -> None:
    return None


async def write_many(batch: object) -> None:
    return None


async def handle(message: aioredpat.StreamMessage[Product]) -> None:
    assert_type(message.data, Product)


async def send(job: aioredpat.Job[Product]) -> None:
    assert_type(job.data, Product)
    assert_type(job.attempt, int)


async def handle_batch(messages: list[aioredpat.StreamMessage[Product]]) -> None:
    return None


async def main(pool: aioredpat.RedisPool) -> None:
    cache = aioredpat.CacheAside(
        pool,
        namespace="p",
        ttl=datetime.timedelta(minutes=5),
        model=Product,
        loader=load_product,
        stale_ttl=30,
        fail_open=True,
    )
    assert_type(cache, aioredpat.CacheAside[Product])
    assert_type(await cache.get("p1"), Product | None)
    await cache.set("p1", Product(id="p1", price=2.0), ttl=60)

    untyped = aioredpat.CacheAside(pool, namespace="u", ttl=60)
    assert_type(untyped, aioredpat.CacheAside[Any])
    aioredpat.CacheAside(pool, namespace="o", ttl=60, model=int | None)

    by_serializer = aioredpat.CacheAside(
        pool, namespace="s", ttl=60, serializer=aioredpat.ModelSerializer(Product)
    )
    assert_type(by_serializer, aioredpat.CacheAside[Product])

    through = aioredpat.WriteThrough(
        pool, namespace="w", ttl=60, model=Product, loader=load_product, writer=write_product
    )
    assert_type(through, aioredpat.WriteThrough[Product])

    behind = aioredpat.WriteBehind(
        pool, namespace="b", ttl=60, writer=write_many, model=Product, batch_size=10
    )
    assert_type(behind, aioredpat.WriteBehind[Product])

    producer = aioredpat.StreamProducer(pool, "orders", model=Product, maxlen=1000)
    assert_type(producer, aioredpat.StreamProducer[Product])
    consumer = aioredpat.StreamConsumer(
        pool, "orders", group="g", consumer="c", handler=handle, model=Product, concurrency=4
    )
    assert_type(consumer, aioredpat.StreamConsumer[Product])
    batch = aioredpat.BatchStreamConsumer(
        pool, "orders", group="g", consumer="c", handler=handle_batch, model=Product
    )
    assert_type(batch, aioredpat.BatchStreamConsumer[Product])
    pubsub = aioredpat.PubSub(pool, model=Product, buffer=10)
    assert_type(pubsub, aioredpat.PubSub[Product])

    @aioredpat.cached(pool, namespace="f", ttl=60)
    async def product(key: str, *, fresh: bool = False) -> Product:
        return Product(id=key, price=1.0)

    assert_type(await product("p1"), Product)
    await product.invalidate("p1", fresh=True)

    @aioredpat.cached(pool, namespace="g", ttl=60, model=Product, stale_ttl=5)
    async def product_row(key: str) -> dict[str, Any]:
        return {"id": key, "price": 1.0}

    assert_type(await product_row("p1"), Product)

    feed = aioredpat.ActivityFeed(pool, namespace="f", maxlen=10, model=Product)
    assert_type(feed, aioredpat.ActivityFeed[Product])
    assert_type(await feed.page("k"), list[Product])
    store = aioredpat.VersionedStore(pool, namespace="v", model=Product)
    found = await store.get("k")
    assert_type(found, aioredpat.Versioned[Product] | None)
    board = aioredpat.Leaderboard(pool, "b", ttl=datetime.timedelta(days=7))
    assert_type(await board.top(3), list[aioredpat.LeaderboardEntry])

    sessions = aioredpat.SessionStore(pool, model=Product, absolute_ttl=3600)
    assert_type(await sessions.get("sid"), Product | None)

    lock = aioredpat.Lock(pool, "invoice", ttl=datetime.timedelta(seconds=10))
    async with lock as lease:
        await lease.extend(datetime.timedelta(seconds=5))
    limiter = aioredpat.SlidingWindow(pool, namespace="api", limit=10, window=1.5)
    assert_type((await limiter.hit("user")).allowed, bool)

    jobs = aioredpat.JobQueue(pool, "emails", model=Product, visibility_timeout=60)
    assert_type(jobs, aioredpat.JobQueue[Product])
    assert_type(await jobs.enqueue(Product(id="p", price=1.0), delay=5), str)
    async with jobs.worker(send, concurrency=4) as worker:
        assert_type(worker, aioredpat.QueueWorker[Product])
    assert_type(await jobs.dead(), list[aioredpat.Job[Product]])
