"""Stream consumers side by side on one Redis: how fast a backlog of typed messages drains.

Each round fills the stream ``orders`` with N messages (one ``data`` field holding an
``Order`` as JSON), then times one consumer group draining it and counts the Redis
commands it sent (INFO commandstats), for:

- aioredpat ``StreamConsumer``, a per-message handler, concurrency 8;
- aioredpat ``BatchStreamConsumer``, a handler taking a list;
- FastStream's Redis stream subscriber (``StreamSub`` with a group), as its docs show it;
- a hand-written redis-py loop: XREADGROUP COUNT 500, decode, one XACK per batch.

Rounds alternate between contenders; figures are medians. FastStream runs one round of
the same size (it is slow enough for one round to be a long, stable sample).
Then an idle aioredpat consumer is watched for ``--idle`` seconds: commands per second.

Bars: >= 20k messages/s per-message (>= 10x FastStream), <= 1/50 command per message,
idle consumer <= 1 command per second.

    uv run --group bench python -m benchmarks.bench_streams [--messages 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pydantic
import redis.asyncio as redis
from faststream.redis import RedisBroker, StreamSub

from aioredpat import BatchStreamConsumer, RedisPool, StreamConsumer, StreamMessage
from aioredpat.testing import command_counts, reset_command_counts
from benchmarks._common import median, redis_url, table

STREAM, GROUP = "orders", "bench"


class Order(pydantic.BaseModel):
    id: int
    item: str
    quantity: int


async def fill(client: redis.Redis, count: int) -> None:
    await client.delete(STREAM)
    for start in range(0, count, 5000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 5000, count)):
            pipe.xadd(STREAM, {"data": Order(id=i, item="book", quantity=1).model_dump_json()})
        await pipe.execute()


Drain = Callable[[RedisPool, int, asyncio.Event], Awaitable[None]]


async def drain_per_message(pool: RedisPool, count: int, done: asyncio.Event) -> None:
    seen = 0

    async def handler(message: StreamMessage[Order]) -> None:
        nonlocal seen
        seen += 1
        if seen == count:
            done.set()

    options = {"group": GROUP, "consumer": "c", "model": Order, "concurrency": 8}
    async with StreamConsumer(pool, STREAM, handler=handler, **options):
        await done.wait()


async def drain_batches(pool: RedisPool, count: int, done: asyncio.Event) -> None:
    seen = 0

    async def handler(messages: list[StreamMessage[Order]]) -> None:
        nonlocal seen
        seen += len(messages)
        if seen == count:
            done.set()

    options = {"group": GROUP, "consumer": "c", "model": Order}
    async with BatchStreamConsumer(pool, STREAM, handler=handler, **options):
        await done.wait()


async def drain_redis_py(pool: RedisPool, count: int, done: asyncio.Event) -> None:
    client = pool.client
    await client.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    seen = 0
    while seen < count:
        reply = await client.xreadgroup(GROUP, "c", {STREAM: ">"}, count=500, block=1000)
        ids = []
        for entry_id, fields in reply[0][1] if reply else ():
            Order.model_validate_json(fields[b"data"])
            ids.append(entry_id)
        if ids:
            await client.xack(STREAM, GROUP, *ids)
        seen += len(ids)
    done.set()


def drain_faststream(url: str) -> Drain:
    async def drain(pool: RedisPool, count: int, done: asyncio.Event) -> None:
        broker = RedisBroker(url, logger=None)
        seen = 0

        @broker.subscriber(stream=StreamSub(STREAM, group=GROUP, consumer="c", last_id="0"))
        async def handler(order: Order) -> None:
            nonlocal seen
            seen += 1
            if seen == count:
                done.set()

        async with broker:
            await broker.start()
            await done.wait()

    return drain


async def measure(pool: RedisPool, drain: Drain, count: int) -> tuple[float, float]:
    """Messages per second and Redis commands per message for one drain of ``count``."""
    await fill(pool.client, count)
    await reset_command_counts(pool)
    done = asyncio.Event()
    start = time.perf_counter()
    await drain(pool, count, done)
    elapsed = time.perf_counter() - start
    counts = await command_counts(pool)
    commands = sum(n for name, n in counts.items() if name not in ("info", "config|resetstat"))
    await pool.client.delete(STREAM)
    return count / elapsed, commands / count


async def idle_commands_per_second(pool: RedisPool, seconds: float) -> float:
    async def handler(message: StreamMessage[Order]) -> None:
        pass

    consumer = StreamConsumer(pool, STREAM, group=GROUP, consumer="idle", handler=handler)
    async with consumer:
        await asyncio.sleep(1.0)  # past start-up: group created, own pending checked
        await reset_command_counts(pool)
        await asyncio.sleep(seconds)
        counts = await command_counts(pool)
    return (
        sum(n for name, n in counts.items() if name not in ("info", "config|resetstat")) / seconds
    )


async def run(url: str, messages: int, rounds: int, idle: float) -> bool:
    contenders: dict[str, Drain] = {
        "aioredpat StreamConsumer (per message)": drain_per_message,
        "aioredpat BatchStreamConsumer": drain_batches,
        "redis-py XREADGROUP/XACK loop": drain_redis_py,
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    per_message: dict[str, list[float]] = {name: [] for name in contenders}
    async with RedisPool.from_url(url) as pool:
        for round_ in range(rounds):
            for name, drain in contenders.items():
                rate, commands = await measure(pool, drain, messages)
                rates[name].append(rate)
                per_message[name].append(commands)
            print(f"round {round_ + 1}/{rounds} done", flush=True)
        fs_name = "FastStream StreamSub (group)"
        fs_rate, fs_commands = await measure(pool, drain_faststream(url), messages)
        rates[fs_name], per_message[fs_name] = [fs_rate], [fs_commands]
        idle_rate = await idle_commands_per_second(pool, idle)

    fast = median(rates[fs_name])
    rows = [("consumer", "messages/s (median)", "vs FastStream", "commands/message")]
    for name in rates:
        rows.append(
            (
                name,
                f"{median(rates[name]):,.0f}",
                f"{median(rates[name]) / fast:.1f}x",
                f"1/{1 / median(per_message[name]):,.0f}",
            )
        )
    print(f"\n{messages:,} messages per drain, {rounds} rounds (FastStream: 1)\n")
    print(table(rows))
    ours = "aioredpat StreamConsumer (per message)"
    print(f"\nidle aioredpat consumer: {idle_rate:.2f} commands/s over {idle:.0f} s")
    checks = {
        ">= 20k messages/s per message": median(rates[ours]) >= 20_000,
        ">= 10x FastStream": median(rates[ours]) / fast >= 10,
        "<= 1/50 command per message": median(per_message[ours]) <= 1 / 50,
        "idle <= 1 command/s": idle_rate <= 1.0,
    }
    for label, ok in checks.items():
        print(f"{'met' if ok else 'MISSED'}: {label}")
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    logging.getLogger("faststream").setLevel(logging.WARNING)
    with redis_url() as url:
        asyncio.run(run(url, args.messages, args.rounds, args.idle))


if __name__ == "__main__":
    main()
