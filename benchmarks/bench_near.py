"""Near-cache hits side by side on one Redis, and how soon a change elsewhere is seen.

Hits of stored pydantic models over 1000 distinct keys, 1 task and 50 tasks, alternating
rounds, after every key was read once (so that near caches hold them all):

- raw redis-py: GET + ``model_validate_json`` (the floor without any cache library);
- aioredpat ``CacheAside.get`` without and with ``near_cache=NearCache()``;
- cashews 7 with ``client_side=True`` (its client-side cache over Redis tracking).

Invalidation: another client SETs a key the near cache holds; the time until a reader's
``get`` returns the new value (medians of 50 changes).

Bars: a near hit with 1 task >= 20x raw redis-py GET + decode and >= 1.5x cashews'
client-side cache; a change seen within 1 s.

    uv run --group bench python -m benchmarks.bench_near [--ops 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic
import redis.asyncio as redis
from cashews import Cache

from aioredpat import CacheAside, NearCache, RedisPool
from benchmarks._common import median, redis_url, table

KEYS = 1000
Op = Callable[[int], Awaitable[Any]]


class User(pydantic.BaseModel):
    id: int
    name: str
    email: str
    roles: list[str]


def make_user(i: int) -> User:
    return User(id=i, name=f"user {i}", email=f"u{i}@example.com", roles=["admin", "dev"])


async def rate(op: Op, ops: int, concurrency: int) -> float:
    per_task = ops // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await op((offset + i * concurrency) % KEYS)

    started = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(concurrency)))
    return per_task * concurrency / (time.perf_counter() - started)


async def wait_ready(near: NearCache) -> None:
    while not near.ready:  # noqa: ASYNC110 (a state with no event to wait on)
        await asyncio.sleep(0.01)


async def contenders(url: str, pool: RedisPool) -> dict[str, Op]:
    raw = redis.Redis.from_url(url, max_connections=1024)
    plain = CacheAside(pool, namespace="plain", ttl=3600, model=User)
    near = CacheAside(pool, namespace="near", ttl=3600, model=User, near_cache=NearCache())
    cashews = Cache()
    cashews.setup(url, client_side=True, max_connections=64)
    for i in range(KEYS):
        user = make_user(i)
        await raw.set(f"raw:{i}", user.model_dump_json())
        await plain.set(i, user)
        await near.set(i, user)
        await cashews.set(f"cashews:{i}", user, expire=3600)
    await near.get(0)
    assert near.near_cache is not None
    await wait_ready(near.near_cache)

    async def raw_get(i: int) -> User:
        return User.model_validate_json(await raw.get(f"raw:{i}"))

    ops: dict[str, Op] = {
        "raw redis-py GET + decode": raw_get,
        "aioredpat CacheAside.get": plain.get,
        "aioredpat CacheAside.get, near cache": near.get,
        "cashews client_side=True": lambda i: cashews.get(f"cashews:{i}"),
    }
    for op in ops.values():  # warm: every key read once (twice: cashews keeps on 2nd)
        for _ in range(2):
            for i in range(KEYS):
                await op(i)
    return ops


async def invalidation_delays(url: str, changes: int) -> list[float]:
    async with RedisPool.from_url(url) as pool, RedisPool.from_url(url) as other:
        near = NearCache()
        reader = CacheAside(pool, namespace="inv", ttl=3600, model=User, near_cache=near)
        writer = CacheAside(other, namespace="inv", ttl=3600, model=User)
        await writer.set(1, make_user(0))
        await reader.get(1)
        await wait_ready(near)
        delays = []
        for n in range(1, changes + 1):
            await reader.get(1)
            await reader.get(1)  # a near copy now
            wanted = make_user(n)
            started = time.perf_counter()
            await writer.set(1, wanted)
            while await reader.get(1) != wanted:  # noqa: ASYNC110 (the polling is measured)
                await asyncio.sleep(0)
            delays.append(time.perf_counter() - started)
        return delays


async def main_async(url: str, ops: int, rounds: int) -> None:
    cases = [("1 task, 1000 keys", 1), ("50 tasks, 1000 keys", 50)]
    async with RedisPool.from_url(url) as pool:
        await pool.client.flushall()
        contenders_ = await contenders(url, pool)
        results: dict[str, dict[str, list[float]]] = {
            c: {n: [] for n in contenders_} for c, _ in cases
        }
        for _ in range(rounds):
            for label, concurrency in cases:
                for name, op in contenders_.items():
                    results[label][name].append(await rate(op, ops, concurrency))
    delays = await invalidation_delays(url, 50)
    ours = "aioredpat CacheAside.get, near cache"
    promised = []
    for label, by in results.items():
        rates = {name: median(values) for name, values in by.items()}
        print(f"\n{label}, hits/s, medians of {rounds} rounds\n")
        rows = [("implementation", "hits/s", "near cache vs this")]
        for name, value in rates.items():
            rows.append((name, f"{value:,.0f}", f"{rates[ours] / value:.2f}x"))
        print(table(rows))
        if label.startswith("1 task"):
            vs_raw = rates[ours] / rates["raw redis-py GET + decode"]
            vs_cashews = rates[ours] / rates["cashews client_side=True"]
            promised.append(
                ("near hit vs raw GET + decode, 1 task", f"{vs_raw:.1f}x", ">= 20x", vs_raw >= 20)
            )
            promised.append(
                (
                    "near hit vs cashews client-side, 1 task",
                    f"{vs_cashews:.2f}x",
                    ">= 1.5x",
                    vs_cashews >= 1.5,
                )
            )
    seen = median(delays) * 1000
    worst = max(delays) * 1000
    promised.append(
        ("a change seen by the near cache (median)", f"{seen:.2f} ms", "<= 1000 ms", seen <= 1000)
    )
    promised.append(
        (
            "a change seen by the near cache (worst of 50)",
            f"{worst:.2f} ms",
            "<= 1000 ms",
            worst <= 1000,
        )
    )
    print("\npromised numbers\n")
    print(table([("measure", "found", "bar", "")]
                + [(m, f, b, "met" if ok else "MISSED") for m, f, b, ok in promised]))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        asyncio.run(main_async(url, args.ops, args.rounds))


if __name__ == "__main__":
    main()
