"""WriteBehind on one Redis: the cost of a write, and end-to-end writes into SQLite.

1. ``wb.set`` (value stored and change queued, one script) against a plain redis-py SET of
   the same value, at 50 concurrent tasks, alternating rounds, medians.
2. End to end: N writes of distinct keys through ``WriteBehind`` (batch_size 100) into a
   SQLite table through aiosqlite, from the first ``set`` until ``flush()`` returns: writes
   per second, and Redis commands per write: those the client sends (round trips) and
   those the server runs (``INFO commandstats``, where a script's own calls count too).

Bar: ``wb.set`` >= 0.8x a plain SET.

    uv run python -m benchmarks.bench_write_behind [--ops 20000] [--rounds 5] [--writes 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import pydantic
import redis.asyncio as redis

from aioredpat import RedisPool, WriteBehind
from aioredpat.testing import command_counts, reset_command_counts
from benchmarks._common import median, redis_url, table

CONCURRENCY = 50


class Visit(pydantic.BaseModel):
    page: str
    count: int


async def rate(op: Callable[[int], Awaitable[Any]], ops: int) -> float:
    per_task = ops // CONCURRENCY

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await op(offset * per_task + i)

    started = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(CONCURRENCY)))
    return per_task * CONCURRENCY / (time.perf_counter() - started)


async def set_rates(url: str, ops: int, rounds: int) -> tuple[float, float]:
    async def writer(batch: Sequence[tuple[str, Any]]) -> None:
        pass

    raw = redis.Redis.from_url(url, max_connections=64)
    async with RedisPool.from_url(url) as pool:
        wb = WriteBehind(pool, namespace="bench", ttl=3600, writer=writer, model=Visit)

        async def ours(i: int) -> Any:
            return await wb.set(f"page:{i % 1000}", Visit(page=f"/p/{i}", count=i))

        async def plain(i: int) -> Any:
            value = Visit(page=f"/p/{i}", count=i).model_dump_json()
            return await raw.set(f"raw:page:{i % 1000}", value, ex=3600)

        for op in (ours, plain):
            for i in range(500):
                await op(i)
        rates: dict[str, list[float]] = {"ours": [], "plain": []}
        for r in range(rounds):
            order = [("ours", ours), ("plain", plain)]
            for name, op in order if r % 2 == 0 else reversed(order):
                rates[name].append(await rate(op, ops))
                await pool.client.delete(wb._queue(0))  # keep the queue from growing
        await raw.aclose()
    return median(rates["ours"]), median(rates["plain"])


async def end_to_end(url: str, writes: int) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            aiosqlite.connect(Path(tmp) / "visits.db") as db,
            RedisPool.from_url(url) as pool,
        ):
            await db.execute("CREATE TABLE visits (page TEXT PRIMARY KEY, count INTEGER)")
            await db.commit()

            async def writer(batch: Sequence[tuple[str, Visit | None]]) -> None:
                await db.executemany(
                    "INSERT INTO visits (page, count) VALUES (?, ?) "
                    "ON CONFLICT (page) DO UPDATE SET count = excluded.count",
                    [(key, visit.count) for key, visit in batch if visit is not None],
                )
                await db.commit()

            await pool.client.flushall()
            wb = WriteBehind(pool, namespace="e2e", ttl=3600, writer=writer, model=Visit,
                             batch_size=100, flush_interval=0.05)  # fmt: skip
            await wb.set("warm-up", Visit(page="/", count=0))
            await reset_command_counts(pool)
            started = time.perf_counter()
            async with wb:
                per_task = writes // CONCURRENCY

                async def worker(t: int) -> None:
                    for i in range(per_task):
                        key = f"page:{t * per_task + i}"
                        await wb.set(key, Visit(page=key, count=i))

                await asyncio.gather(*(worker(t) for t in range(CONCURRENCY)))
                await wb.flush()
                elapsed = time.perf_counter() - started
            counts = await command_counts(pool)
            async with db.execute("SELECT COUNT(*) FROM visits") as rows:
                (stored,) = await rows.fetchone() or (0,)
    ignored = {"info", "config|resetstat", "client|setinfo", "hello"}
    server = sum(n for name, n in counts.items() if name not in ignored)
    inner = counts.get("set", 0) + counts.get("del", 0)  # run by the write script
    inner += counts.get("xadd", 0)
    client = server - inner  # the scripts' own calls are not round trips
    total = per_task * CONCURRENCY
    return total / elapsed, client / total, server / total, stored


async def run(url: str, ops: int, rounds: int, writes: int) -> None:
    ours, plain = await set_rates(url, ops, rounds)
    print(f"\nwb.set vs a plain SET, {CONCURRENCY} tasks, medians of {rounds} rounds\n")
    print(table([("operation", "per second"), ("WriteBehind.set (SET + XADD, one script)",
                 f"{ours:,.0f}"), ("redis-py SET", f"{plain:,.0f}")]))  # fmt: skip
    print(f"\nratio {ours / plain:.2f}x: {'met' if ours / plain >= 0.8 else 'MISSED'} (>= 0.8x)")
    per_second, client, server, stored = await end_to_end(url, writes)
    print(f"\nend to end, {writes:,} writes of distinct keys, batch_size 100, into SQLite:")
    print(f"  {per_second:,.0f} writes/s from the first set until flush() returned")
    print(f"  {client:.3f} client commands per write (the set's EVALSHA and the flushers')")
    print(f"  {server:.3f} server commands per write (a script's SET and XADD counted too)")
    print(f"  rows in SQLite: {stored:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=20_000)
    args = parser.parse_args()
    with redis_url() as url:
        asyncio.run(run(url, args.ops, args.rounds, args.writes))


if __name__ == "__main__":
    main()
