"""Rate limiters side by side with ``limits`` (async, redis-py storage) on one Redis.

For each algorithm pair, at 50 concurrent tasks:

- hit only: ``limiter.hit()``, which in aioredpat already carries remaining/reset;
- hit plus stats: what an HTTP API needs for its headers; aioredpat: the same single hit,
  ``limits``: ``hit()`` then ``get_window_stats()``.

Pairs: exact sliding window vs limits' moving window, approximate sliding window vs
limits' sliding window counter, fixed window vs fixed window; the token bucket is shown
against limits' fixed window, its cheapest. Each figure is the median of alternating
rounds. Then ``MEMORY USAGE`` per identifier with a full window of 100 hits recorded.

Bars: >= 1.0x limits' hit, >= 2.5x limits' hit-plus-stats, token bucket <= 64 bytes.

    uv run --group bench python -m benchmarks.bench_ratelimit [--ops 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from limits import RateLimitItemPerMinute
from limits.aio import strategies
from limits.aio.storage import RedisStorage

from aioredpat import FixedWindow, RedisPool, SlidingWindow, TokenBucket
from benchmarks._common import median, redis_url, table

CONCURRENCY = 50
LIMIT, WINDOW = 100_000, 60.0
IDENTIFIERS = [f"10.0.{i // 256}.{i % 256}" for i in range(1000)]

Op = Callable[[str], Awaitable[Any]]


async def throughput(op: Op, ops: int) -> float:
    """Operations per second with CONCURRENCY tasks sharing ``ops`` calls."""
    per_task = ops // CONCURRENCY

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await op(IDENTIFIERS[(offset * 7919 + i) % len(IDENTIFIERS)])

    start = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(CONCURRENCY)))
    return per_task * CONCURRENCY / (time.perf_counter() - start)


def limits_ops(limiter: strategies.RateLimiter) -> tuple[Op, Op]:
    item = RateLimitItemPerMinute(LIMIT)

    async def hit(ident: str) -> Any:
        return await limiter.hit(item, ident)

    async def hit_and_stats(ident: str) -> Any:
        allowed = await limiter.hit(item, ident)
        stats = await limiter.get_window_stats(item, ident)
        return allowed, stats.remaining, stats.reset_time

    return hit, hit_and_stats


async def memory_per_identifier(client: Any, pattern: str) -> int:
    keys = [key async for key in client.scan_iter(match=pattern)]
    return sum([await client.memory_usage(key) or 0 for key in keys])


async def run(url: str, ops: int, rounds: int) -> bool:
    storage = RedisStorage(url.replace("redis://", "async+redis://"), implementation="redispy")
    async with RedisPool.from_url(url) as pool:
        ours = {
            "sliding window (exact)": SlidingWindow(
                pool, namespace="rl", limit=LIMIT, window=WINDOW
            ),
            "sliding window (approx.)": SlidingWindow(
                pool, namespace="rl", limit=LIMIT, window=WINDOW, approximate=True
            ),
            "fixed window": FixedWindow(pool, namespace="rl", limit=LIMIT, window=WINDOW),
            "token bucket": TokenBucket(
                pool, namespace="rl", capacity=LIMIT, refill_rate=LIMIT / WINDOW
            ),
        }
        theirs = {
            "sliding window (exact)": (
                "moving window",
                strategies.MovingWindowRateLimiter(storage),
            ),
            "sliding window (approx.)": (
                "sliding window counter",
                strategies.SlidingWindowCounterRateLimiter(storage),
            ),
            "fixed window": ("fixed window", strategies.FixedWindowRateLimiter(storage)),
            "token bucket": ("fixed window", strategies.FixedWindowRateLimiter(storage)),
        }
        samples: dict[tuple[str, str], list[float]] = {}
        for name, limiter in ours.items():
            their_name, their_limiter = theirs[name]
            their_hit, their_stats = limits_ops(their_limiter)
            contenders = {
                ("aioredpat", "hit"): limiter.hit,
                ("limits", "hit"): their_hit,
                ("limits", "hit+stats"): their_stats,
            }
            for op in contenders.values():  # warm up scripts and connections
                await throughput(op, CONCURRENCY * 20)
            for r in range(rounds):
                order = list(contenders.items())
                for (who, what), op in order if r % 2 == 0 else reversed(order):
                    samples.setdefault((name, f"{who} {what}"), []).append(
                        await throughput(op, ops)
                    )
            await pool.client.flushall()

        rows = [("algorithm (limits' counterpart)", "aioredpat hit/s", "limits hit/s",
                 "limits hit+stats/s", "vs hit", "vs hit+stats")]  # fmt: skip
        ok = True
        for name in ours:
            mine = median(samples[(name, "aioredpat hit")])
            hit = median(samples[(name, "limits hit")])
            stats = median(samples[(name, "limits hit+stats")])
            label = f"{name} ({theirs[name][0]})"
            figures = (f"{mine:,.0f}", f"{hit:,.0f}", f"{stats:,.0f}")
            rows.append((label, *figures, f"{mine / hit:.2f}x", f"{mine / stats:.2f}x"))
            ok &= mine / hit >= 1.0 and mine / stats >= 2.5
        print(
            f"Throughput at {CONCURRENCY} concurrent tasks, median of {rounds} rounds of {ops} ops"
        )
        print(table(rows))

        # memory: one identifier with a full window of 100 recorded hits
        ident = "10.1.2.3"
        item = RateLimitItemPerMinute(1000)
        mem_rows = [("algorithm", "aioredpat bytes", "limits algorithm", "limits bytes")]
        for name, limiter in ours.items():
            their_name, their_limiter = theirs[name]
            await pool.client.flushall()
            for _ in range(100):
                await limiter.hit(ident)
                await their_limiter.hit(item, ident)
            mine = await memory_per_identifier(pool.client, "rl:*")
            their_bytes = await memory_per_identifier(pool.client, "LIMITS*")
            mem_rows.append((name, str(mine), their_name, str(their_bytes)))
            if name == "token bucket":
                ok &= mine <= 64
        print(f"\nMemory per identifier ({ident!r}), 100 hits in one window (MEMORY USAGE)")
        print(table(mem_rows))
    await storage.reset()
    print("\nall bars met" if ok else "\nSOME BARS MISSED")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        ok = asyncio.run(run(url, args.ops, args.rounds))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
