"""Bad values and misuse get a clear error at once, and nothing wrong is stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import math

import pydantic
import pytest

from aioredpat import (
    CacheAside,
    ConfigurationError,
    Lock,
    PubSub,
    RedisPool,
    Redlock,
    SerializationError,
    StreamConsumer,
    StreamProducer,
    TokenBucket,
    ValueTooLarge,
    WriteBehind,
    WriteThrough,
)


class Product(pydantic.BaseModel):
    sku: str
    price: float


class Order(pydantic.BaseModel):
    id: int


async def _keys(pool: RedisPool) -> int:
    return sum([1 async for _ in pool.client.scan_iter("*")])


@pytest.mark.parametrize("value", [Order(id=1), None, "a string", {"sku": "p1"}])
async def test_a_value_of_the_wrong_type_is_refused_before_anything_is_sent(
    aioredpat_pool: RedisPool, value
) -> None:
    cache = CacheAside(aioredpat_pool, namespace="products", ttl=60, model=Product)
    with pytest.raises(SerializationError, match="not a valid Product"):
        await cache.set("p1", value)
    producer = StreamProducer(aioredpat_pool, "products", model=Product)
    with pytest.raises(SerializationError, match="not a valid Product"):
        await producer.publish(value)

    async def writer(batch) -> None:
        pass

    behind = WriteBehind(aioredpat_pool, namespace="wb", ttl=60, writer=writer, model=Product)
    with pytest.raises(SerializationError, match="not a valid Product"):
        await behind.set("p1", value)
    assert await _keys(aioredpat_pool) == 0


async def test_a_miss_returns_the_model_as_a_hit_does(aioredpat_conn: RedisPool) -> None:
    async def load(sku: str) -> dict:
        return {"sku": sku, "price": "9.5"}  # a database row, as a dict

    cache = CacheAside(aioredpat_conn, namespace="products", ttl=60, model=Product, loader=load)
    miss = await cache.get("p1")
    hit = await cache.get("p1")
    assert miss == hit == Product(sku="p1", price=9.5)
    assert type(miss) is type(hit) is Product


async def test_an_invalid_loaded_value_raises_and_is_not_stored(aioredpat_conn: RedisPool) -> None:
    calls = 0

    async def load(sku: str) -> dict:
        nonlocal calls
        calls += 1
        return {"sku": sku}  # no price

    cache = CacheAside(aioredpat_conn, namespace="products", ttl=60, model=Product, loader=load)
    for _ in range(2):
        with pytest.raises(SerializationError, match="price"):
            await cache.get("p1")
    assert calls == 2  # nothing was stored: each get asked the loader again


def _sync_loader(key: str) -> dict:
    return {}


class _AsyncCallable:
    async def __call__(self, key: str) -> None:
        return None


def test_a_sync_function_where_an_async_one_is_expected_is_refused(aioredpat_pool) -> None:
    def writer(batch) -> None:
        pass

    def handler(message) -> None:
        pass

    with pytest.raises(ConfigurationError, match=r"loader must be an async function.*_sync_loader"):
        CacheAside(aioredpat_pool, namespace="c", ttl=1, loader=_sync_loader)
    with pytest.raises(ConfigurationError, match="writer must be an async function"):
        WriteBehind(aioredpat_pool, namespace="w", ttl=1, writer=writer)
    with pytest.raises(ConfigurationError, match="writer must be an async function"):
        WriteThrough(aioredpat_pool, namespace="t", ttl=1, loader=_AsyncCallable(), writer=writer)
    with pytest.raises(ConfigurationError, match="handler must be an async function"):
        StreamConsumer(aioredpat_pool, "s", group="g", consumer="c", handler=handler)
    CacheAside(aioredpat_pool, namespace="c", ttl=1, loader=_AsyncCallable())  # accepted


async def test_a_sync_loader_given_to_get_is_refused_at_the_call(aioredpat_pool) -> None:
    cache = CacheAside(aioredpat_pool, namespace="c", ttl=1)
    with pytest.raises(ConfigurationError, match="loader must be an async function"):
        await cache.get("k", loader=_sync_loader)


async def test_a_closed_pool_says_so(aioredpat_redis_url: str) -> None:
    pool = RedisPool.from_url(aioredpat_redis_url)
    cache = CacheAside(pool, namespace="c", ttl=1)
    bucket = TokenBucket(pool, namespace="t", capacity=1, refill_rate=1)
    assert await pool.ping() is True
    await pool.aclose()
    for call in (cache.get("k"), cache.set("k", 1), bucket.hit("a"), pool.ping()):
        with pytest.raises(RuntimeError, match=r"RedisPool standalone .* is closed"):
            await call
    with pytest.raises(RuntimeError, match="is closed"):
        async with pool:
            pass


async def test_ping_is_false_when_redis_is_gone(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url, retries=0) as pool:
        assert await pool.ping() is True
        server.kill()
        assert await pool.ping() is False


async def test_async_with_objects_refuse_a_second_run(aioredpat_pool: RedisPool) -> None:
    async def writer(batch) -> None:
        pass

    async def handler(message) -> None:
        pass

    objects = [
        WriteBehind(aioredpat_pool, namespace="w", ttl=1, writer=writer),
        StreamConsumer(aioredpat_pool, "s", group="g", consumer="c", handler=handler),
        PubSub(aioredpat_pool),
    ]
    for obj in objects:
        async with obj:
            pass
        with pytest.raises(RuntimeError, match="make a new one"):
            async with obj:
                pass


async def test_flush_without_any_flusher_raises_instead_of_hanging(aioredpat_pool) -> None:
    async def writer(batch) -> None:
        pass

    behind = WriteBehind(aioredpat_pool, namespace="w", ttl=60, writer=writer, model=int)
    await behind.set("k", 1)
    with pytest.raises(RuntimeError, match="no flusher runs"):
        await behind.flush()


def test_public_classes_report_the_package_as_their_module() -> None:
    import aioredpat

    for name in aioredpat.__all__:
        obj = getattr(aioredpat, name)
        if isinstance(obj, type):
            assert obj.__module__ == "aioredpat", name


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1.0, 1e300, "5s"])
def test_bad_durations_are_refused_at_construction(aioredpat_pool, bad) -> None:
    for make in (
        lambda: Lock(aioredpat_pool, "l", ttl=bad),
        lambda: Lock(aioredpat_pool, "l", ttl=5, blocking_timeout=bad),
        lambda: Redlock([aioredpat_pool], "l", ttl=bad),
        lambda: CacheAside(aioredpat_pool, namespace="c", ttl=bad),
    ):
        with pytest.raises(ConfigurationError, match=r"ttl|timeout"):
            make()


async def test_bad_durations_are_refused_at_the_call(aioredpat_pool) -> None:
    lock = Lock(aioredpat_pool, "l", ttl=5)
    with pytest.raises(ConfigurationError, match="blocking_timeout"):
        await lock.acquire(blocking_timeout=math.nan)
    lease = await lock.acquire()
    for bad in (math.inf, 1e-9):
        with pytest.raises(ConfigurationError, match="ttl"):
            await lease.extend(bad)
    bucket = TokenBucket(aioredpat_pool, namespace="t", capacity=1, refill_rate=1)
    with pytest.raises(ConfigurationError, match="timeout"):
        await bucket.acquire("a", timeout=math.nan)
    await lease.release()


async def test_durations_take_timedelta(aioredpat_pool) -> None:
    lock = Lock(aioredpat_pool, "td", ttl=dt.timedelta(seconds=5))
    assert lock.ttl == 5.0
    cache = CacheAside(aioredpat_pool, namespace="c", ttl=dt.timedelta(minutes=1))
    assert cache.ttl == 60.0
    async with lock:
        assert await aioredpat_pool.client.pttl("lock:{td}:held") > 4000


def test_a_redlock_ttl_too_short_to_hold_is_refused(aioredpat_pool) -> None:
    with pytest.raises(ConfigurationError, match=r"at least 0\.01s"):
        Redlock([aioredpat_pool], "short", ttl=0.002)


async def test_write_behind_refuses_none_which_the_writer_would_take_for_a_delete(
    aioredpat_pool,
) -> None:
    async def writer(batch) -> None:
        pass

    behind = WriteBehind(aioredpat_pool, namespace="w", ttl=60, writer=writer)  # no model
    with pytest.raises(SerializationError, match=r"call delete\(\)"):
        await behind.set("k", None)
    assert await _keys(aioredpat_pool) == 0


def test_a_pool_used_from_a_second_event_loop_says_so(aioredpat_redis_url: str) -> None:
    pool = RedisPool.from_url(aioredpat_redis_url)  # made at import time, say
    cache = CacheAside(pool, namespace="c", ttl=5)
    asyncio.run(cache.set("k", 1))
    with pytest.raises(RuntimeError, match="first used on another event loop"):
        asyncio.run(cache.get("k"))


async def test_a_value_past_max_value_size_is_refused_naming_the_limit(
    aioredpat_redis_url: str,
) -> None:
    async with RedisPool.from_url(aioredpat_redis_url, max_value_size=1024) as pool:
        await pool.client.flushall()
        cache = CacheAside(pool, namespace="c", ttl=60)
        producer = StreamProducer(pool, "s")
        for call in (cache.set("k", "x" * 2000), producer.publish("x" * 2000)):
            with pytest.raises(ValueTooLarge, match="max_value_size of 1,024") as info:
                await call
            assert info.value.limit == 1024 and info.value.size > 2000
        await cache.set("k", "x" * 100)  # within the limit
        assert await _keys(pool) == 1
    with pytest.raises(ConfigurationError, match="max_value_size"):
        RedisPool.from_url(aioredpat_redis_url, max_value_size=0)


async def test_identifiers_that_are_not_valid_unicode_work_and_stay_distinct(
    aioredpat_conn: RedisPool,
) -> None:
    odd, lookalike = "user-\ud800", "user-%uD800"  # a lone surrogate, and its escape's text
    bucket = TokenBucket(aioredpat_conn, namespace="t", capacity=1, refill_rate=0.001)
    assert (await bucket.hit(odd)).allowed
    assert (await bucket.hit(lookalike)).allowed  # not the same identifier
    assert not (await bucket.hit(odd)).allowed
    cache = CacheAside(aioredpat_conn, namespace="c", ttl=60)
    await cache.set(odd, 1)
    await cache.set(lookalike, 2)
    assert (await cache.get(odd), await cache.get(lookalike)) == (1, 2)
    lock = Lock(aioredpat_conn, odd, ttl=5)
    async with lock:
        assert await lock.locked()

    written: list[tuple[str, object]] = []

    async def writer(batch) -> None:
        written.extend(batch)

    async with WriteBehind(aioredpat_conn, namespace="w", ttl=60, writer=writer) as behind:
        await behind.set(odd, 3)
        assert await behind.get(odd) == 3
        await behind.flush()
    assert written == [(odd, 3)]
