"""Data structures: their promised numbers, and throughput side by side with pottery.

Numbers (counts, not timings): ``Leaderboard.submit`` and ``rank`` are one round trip
each; ``UniqueCounter`` within 2% at 100k distinct items; ``BloomFilter`` false-positive
rate within 1.5x ``error_rate`` at ``capacity`` and memory within 1.1x the optimum;
``VersionedStore.update`` from 4 processes x 25 increments gives exactly 100, with the
conflict retries counted.

Throughput: adds and membership checks of 1000 items in batches of 100, and unique counts,
against pottery's ``BloomFilter`` and ``HyperLogLog`` (sync, redis-py's sync client, the
library a user would otherwise pick), on the same server, alternating rounds, medians.
For ranks, against raw redis-py's two round trips (ZSCORE, then ZCOUNT of better scores).

    uv run --group bench python -m benchmarks.bench_structures [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import warnings
from pathlib import Path

import redis
import redis.asyncio as aredis
from pottery import BloomFilter as PotteryBloom
from pottery import HyperLogLog as PotteryHLL

from aioredpat import BloomFilter, Leaderboard, RedisPool, UniqueCounter, VersionedStore
from aioredpat.testing import command_counts, reset_command_counts
from benchmarks._common import median, redis_url, table

ROOT = Path(__file__).resolve().parent.parent

INCREMENTS = """
import asyncio, sys
from aioredpat import RedisPool, VersionedStore

async def main(url):
    async with RedisPool.from_url(url) as pool:
        store = VersionedStore(pool, namespace="bench-versions")
        for _ in range(25):
            await store.update("n", lambda v: (v or 0) + 1, retries=1000)
        print(store.conflicts)

asyncio.run(main(sys.argv[1]))
"""


async def numbers(url: str) -> list[tuple[str, str, str, bool]]:
    rows: list[tuple[str, str, str, bool]] = []
    async with RedisPool.from_url(url) as pool:
        await pool.client.flushall()
        board = Leaderboard(pool, "bench")
        await board.submit("warm", 1)
        await board.rank("warm")
        await reset_command_counts(pool)
        await board.submit("ann", 5)
        submit = (await command_counts(pool))["evalsha"]
        await reset_command_counts(pool)
        await board.rank("ann")
        rank = (await command_counts(pool))["evalsha"]
        rows.append(("Leaderboard.submit round trips", str(submit), "1", submit == 1))
        rows.append(("Leaderboard.rank round trips", str(rank), "1", rank == 1))

        counter = UniqueCounter(pool, namespace="bench-uc", bucket=86400, ttl=86400)
        for start in range(0, 100_000, 10_000):
            await counter.add("k", *(f"item-{i}" for i in range(start, start + 10_000)))
        error = abs(await counter.count("k") - 100_000) / 100_000
        rows.append(("UniqueCounter error at 100k", f"{error:.2%}", "<= 2%", error <= 0.02))

        capacity, rate = 100_000, 0.01
        bloom = BloomFilter(pool, "bench", capacity=capacity, error_rate=rate)
        for start in range(0, capacity, 5000):
            await bloom.add(*(f"in-{i}" for i in range(start, start + 5000)))
        probes = [f"out-{i}" for i in range(100_000)]
        positives = 0
        for start in range(0, len(probes), 5000):
            positives += sum(await bloom.contains_many(probes[start : start + 5000]))
        fp = positives / len(probes)
        rows.append(("BloomFilter false positives", f"{fp:.3%}", f"<= {1.5 * rate:.1%}",
                     fp <= 1.5 * rate))  # fmt: skip
        optimum = -capacity * math.log(rate) / math.log(2) ** 2 / 8
        used = await pool.client.memory_usage(bloom._key)
        rows.append(("BloomFilter memory / optimum", f"{used / optimum:.3f}x", "<= 1.1x",
                     used <= 1.1 * optimum))  # fmt: skip

        command = [sys.executable, "-c", INCREMENTS, url]
        workers = [
            await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
            for _ in range(4)
        ]
        outputs = [await worker.communicate() for worker in workers]
        retries = sum(int(out.strip() or 0) for out, _ in outputs)
        found = await VersionedStore(pool, namespace="bench-versions").get("n")
        total = found.value if found else 0
        rows.append(("VersionedStore 4 processes x 25", str(total), "100", total == 100))
        rows.append(("  conflict retries counted", str(retries), "-", True))
    return rows


async def throughput(url: str, rounds: int) -> dict[str, dict[str, float]]:
    sync = redis.Redis.from_url(url)
    raw = aredis.Redis.from_url(url)
    items = [f"user-{i}@example.com" for i in range(1000)]
    batches = [items[i : i + 100] for i in range(0, 1000, 100)]
    results: dict[str, dict[str, list[float]]] = {
        "bloom add + contains_many (items/s)": {"aioredpat": [], "pottery": []},
        "unique add + count (items/s)": {"aioredpat": [], "pottery": []},
        "leaderboard rank (calls/s)": {"aioredpat": [], "raw redis-py ZSCORE+ZCOUNT": []},
    }
    async with RedisPool.from_url(url) as pool:
        board = Leaderboard(pool, "bench-rank")
        for r in range(rounds):
            sync.flushdb()
            for i in range(1000):
                await board.set(f"p{i}", i % 100)
            for label, by in (await one_round(pool, sync, raw, board, batches, r)).items():
                for name, value in by.items():
                    results[label][name].append(value)
    sync.close()
    await raw.aclose()
    return {label: {n: median(v) for n, v in by.items()} for label, by in results.items()}


async def one_round(
    pool: RedisPool,
    sync: redis.Redis,
    raw: aredis.Redis,
    board: Leaderboard,
    batches: list[list[str]],
    r: int,
) -> dict[str, dict[str, float]]:
    """One round of each pair, in alternating order from round to round."""
    ours_bloom = BloomFilter(pool, f"b{r}", capacity=10_000, error_rate=0.01)
    theirs_bloom = PotteryBloom(num_elements=10_000, false_positives=0.01, redis=sync,
                                key=f"pottery-bloom-{r}")  # fmt: skip
    counter = UniqueCounter(pool, namespace=f"u{r}", bucket=3600, ttl=3600)
    hll = PotteryHLL(redis=sync, key=f"pottery-hll-{r}")

    async def ours_b() -> None:
        for batch in batches:
            await ours_bloom.add(*batch)
            await ours_bloom.contains_many(batch)

    def theirs_b() -> None:
        for batch in batches:
            theirs_bloom.update(batch)
            theirs_bloom.contains_many(*batch)

    async def ours_u() -> None:
        for batch in batches:
            await counter.add("k", *batch)
            await counter.count("k")

    def theirs_u() -> None:
        for batch in batches:
            hll.update(batch)
            len(hll)

    async def ours_rank() -> None:
        for i in range(1000):
            await board.rank(f"p{i}")

    async def raw_rank() -> None:
        for i in range(1000):
            score = await raw.zscore(board._key, f"p{i}")
            await raw.zcount(board._key, f"({score}", "+inf")

    pairs = [
        ("bloom add + contains_many (items/s)", "pottery", ours_b, theirs_b, 2000),
        ("unique add + count (items/s)", "pottery", ours_u, theirs_u, 1000),
        ("leaderboard rank (calls/s)", "raw redis-py ZSCORE+ZCOUNT", ours_rank, raw_rank, 1000),
    ]
    found: dict[str, dict[str, float]] = {}
    for label, peer, ours, theirs, done in pairs:
        order = [("aioredpat", ours), (peer, theirs)]
        found[label] = {}
        for name, run in order if r % 2 == 0 else reversed(order):
            started = time.perf_counter()
            outcome = run()
            if asyncio.iscoroutine(outcome):
                await outcome
            found[label][name] = done / (time.perf_counter() - started)
    return found


def main() -> None:
    warnings.filterwarnings("ignore", module="pottery")  # its O(n) notes, not the bench's
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        promised = asyncio.run(numbers(url))
        rates = asyncio.run(throughput(url, args.rounds))
    print("\npromised numbers\n")
    print(table([("measure", "found", "bar", "")]
                + [(m, f, b, "met" if ok else "MISSED") for m, f, b, ok in promised]))  # fmt: skip
    for label, by in rates.items():
        print(f"\n{label}, medians of {args.rounds} rounds\n")
        ours = by["aioredpat"]
        rows = [("implementation", "rate", "aioredpat vs this")]
        rows += [(name, f"{value:,.0f}", f"{ours / value:.2f}x") for name, value in by.items()]
        print(table(rows))


if __name__ == "__main__":
    main()
