from __future__ import annotations

import asyncio

import aiosqlite
import pydantic
import pytest

from aioredpat import CacheAside, ConfigurationError, RedisPool, WriteThrough
from tests.cache._helpers import eventually, keys_without_ttl


class Product(pydantic.BaseModel):
    sku: str
    price: int


class Catalogue:
    """A real SQLite table behind the cache; ``hold`` can pause a write after it committed."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.reads = 0
        self.hold: dict[int, asyncio.Event] = {}  # price -> released when set

    async def load(self, sku: str) -> Product | None:
        self.reads += 1
        async with self.db.execute("SELECT price FROM products WHERE sku = ?", (sku,)) as rows:
            row = await rows.fetchone()
        return None if row is None else Product(sku=sku, price=row[0])

    async def write(self, sku: str, product: Product) -> None:
        if product.price < 0:
            raise ValueError("negative price")
        await self.db.execute(
            "INSERT INTO products (sku, price) VALUES (?, ?) "
            "ON CONFLICT (sku) DO UPDATE SET price = excluded.price",
            (sku, product.price),
        )
        await self.db.commit()
        if product.price in self.hold:
            await self.hold[product.price].wait()  # committed, not yet returned

    async def remove(self, sku: str) -> None:
        await self.db.execute("DELETE FROM products WHERE sku = ?", (sku,))
        await self.db.commit()

    async def price(self, sku: str) -> int | None:
        product = await self.load(sku)
        return None if product is None else product.price


@pytest.fixture
async def catalogue(tmp_path):
    async with aiosqlite.connect(tmp_path / "shop.db") as db:
        await db.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, price INTEGER NOT NULL)")
        await db.commit()
        yield Catalogue(db)


def products(pool: RedisPool, catalogue: Catalogue, **options) -> WriteThrough[Product]:
    return WriteThrough(
        pool, namespace="products", ttl=60, model=Product,
        loader=catalogue.load, writer=catalogue.write, **options,
    )  # fmt: skip


async def test_set_writes_the_database_then_the_cache(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue)
    await cache.set("p1", Product(sku="p1", price=10))
    assert await catalogue.price("p1") == 10
    reads = catalogue.reads
    assert await cache.get("p1") == Product(sku="p1", price=10)
    assert catalogue.reads == reads  # served from the cache
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_a_failing_writer_leaves_the_cache_untouched(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue)
    await cache.set("p1", Product(sku="p1", price=10))
    with pytest.raises(ValueError, match="negative"):
        await cache.set("p1", Product(sku="p1", price=-1))
    plain = CacheAside(aioredpat_conn, namespace="products", ttl=60, model=Product)
    assert await plain.get("p1") == Product(sku="p1", price=10)
    assert await catalogue.price("p1") == 10
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_overlapping_writers_never_leave_the_loser_cached(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue)
    # writer A commits first but returns last; writer B commits second (it wins in the
    # database) and returns first
    catalogue.hold[1] = asyncio.Event()
    a = asyncio.create_task(cache.set("p1", Product(sku="p1", price=1)))
    await eventually(lambda: catalogue.price("p1"))
    await cache.set("p1", Product(sku="p1", price=2))
    catalogue.hold[1].set()
    await a
    assert await catalogue.price("p1") == 2
    assert (await cache.get("p1")).price == 2


async def test_overlapping_writers_other_order(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue)
    # B starts while A is still in flight, and B's commit lands first; A commits last
    gate = asyncio.Event()
    original = catalogue.write

    async def slow_start(sku: str, product: Product) -> None:
        if product.price == 1:
            await gate.wait()  # A has begun (registered) but not yet written
        await original(sku, product)

    cache._writer = slow_start
    a = asyncio.create_task(cache.set("p1", Product(sku="p1", price=1)))
    await eventually(lambda: aioredpat_conn.client.exists("products:{p1}:ws"))
    await cache.set("p1", Product(sku="p1", price=2))  # commits and returns first
    gate.set()
    await a  # A's commit lands last: it wins in the database
    assert await catalogue.price("p1") == 1
    assert (await cache.get("p1")).price == 1


async def test_a_load_overlapping_a_write_cannot_cache_the_old_value(
    aioredpat_conn, catalogue
) -> None:
    cache = products(aioredpat_conn, catalogue)
    await catalogue.write("p1", Product(sku="p1", price=5))
    release = asyncio.Event()

    async def slow_load(sku: str) -> Product | None:
        product = await catalogue.load(sku)  # reads 5
        await release.wait()
        return product

    reader = asyncio.create_task(cache.get("p1", loader=slow_load))
    await eventually(lambda: aioredpat_conn.client.exists("products:{p1}:lease"))
    await cache.set("p1", Product(sku="p1", price=6))
    release.set()
    assert (await reader).price == 5
    assert (await cache.get("p1")).price == 6


async def test_cancelled_write_evicts_rather_than_guesses(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue)
    await cache.set("p1", Product(sku="p1", price=1))
    catalogue.hold[2] = asyncio.Event()
    writing = asyncio.create_task(cache.set("p1", Product(sku="p1", price=2)))

    async def committed() -> bool:
        return await catalogue.price("p1") == 2

    await eventually(committed)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert await aioredpat_conn.client.exists("products:{p1}:v") == 0
    assert await aioredpat_conn.client.exists("products:{p1}:ws") == 0  # nothing left in progress
    assert (await cache.get("p1")).price == 2


async def test_delete_with_a_deleter_removes_from_the_database(aioredpat_conn, catalogue) -> None:
    cache = products(aioredpat_conn, catalogue, deleter=catalogue.remove)
    await cache.set("p1", Product(sku="p1", price=3))
    await cache.delete("p1")
    assert await catalogue.price("p1") is None
    assert await cache.get("p1") is None
    evicting = products(aioredpat_conn, catalogue)
    await evicting.set("p2", Product(sku="p2", price=4))
    await evicting.delete("p2")  # no deleter: the cache only
    assert await catalogue.price("p2") == 4


def test_writer_and_loader_are_required(aioredpat_pool: RedisPool) -> None:
    async def noop(*args) -> None:
        return None

    with pytest.raises(ConfigurationError, match="writer"):
        WriteThrough(aioredpat_pool, namespace="p", ttl=1, loader=noop, writer=None)
    with pytest.raises(ConfigurationError, match="loader"):
        WriteThrough(aioredpat_pool, namespace="p", ttl=1, loader=None, writer=noop)


async def test_a_write_while_another_process_waits_for_a_load(aioredpat_conn, catalogue) -> None:
    # a write's state and the flag of a process waiting for a load are two keys (they were
    # one, so such a write failed with WRONGTYPE and the waiter was never told)
    await catalogue.write("p1", Product(sku="p1", price=1))
    release = asyncio.Event()

    async def slow_load(sku: str) -> Product | None:
        await release.wait()
        return await catalogue.load(sku)

    loading = WriteThrough(
        aioredpat_conn, namespace="products", ttl=60, model=Product,
        loader=slow_load, writer=catalogue.write,
    )  # fmt: skip
    waiting = products(aioredpat_conn, catalogue)  # another process's cache, in effect
    loader = asyncio.create_task(loading.get("p1"))
    await eventually(lambda: aioredpat_conn.client.exists("products:{p1}:lease"))
    waiter = asyncio.create_task(waiting.get("p1"))
    await eventually(lambda: aioredpat_conn.client.exists("products:{p1}:w"))
    await waiting.set("p1", Product(sku="p1", price=2))
    assert await waiter == Product(sku="p1", price=2)  # told the written value
    release.set()
    assert await loader == Product(sku="p1", price=2)  # its load read the new row
    assert await waiting.get("p1") == Product(sku="p1", price=2)
    assert await catalogue.price("p1") == 2
