"""Cache hits side by side on one Redis, then a stampede across processes.

Hits of stored pydantic models, alternating rounds: 1, 50 and 500 tasks in flight over 1000
distinct keys (where aioredpat's concurrent reads leave together as one pipeline), and 50
tasks all reading one hot key (where its concurrent hits of one key share a GET):

- raw redis-py: GET + ``model_validate_json`` (the floor: no cache library at all);
- aioredpat: ``CacheAside.get`` and an ``@cached`` function;
- cashews 7: ``cache.get`` and an ``@cache(ttl, lock=True)`` function (its stampede guard);
- aiocache 0.12: ``RedisCache.get`` and an ``@cached`` function.

Stampede: 4 processes x 25 tasks miss one key at once; the loader takes 100 ms. Reports
loader calls and Redis commands per waiter (connection set-up and the benchmark's own
counting excluded).

Then the same distinct-key reads on a 3-master cluster, against raw ``RedisCluster`` GET
+ decode (cashews and aiocache have no cluster client).

Bars: an aioredpat hit >= 0.95x raw redis-py with 1 task, >= 3.0x with 50 and 500 tasks
over distinct keys (>= 2.0x raw ``RedisCluster`` on the cluster), >= 1.4x cashews and
>= 1.3x aiocache throughout; stampede: 1 loader call, <= 3 commands per waiter.

    uv run --group bench python -m benchmarks.bench_cache [--ops 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pydantic
import redis.asyncio as redis
from aiocache import RedisCache
from aiocache import cached as aiocache_cached
from aiocache.serializers import PickleSerializer
from cashews import Cache

from aioredpat import CacheAside, RedisPool, cached
from aioredpat._launcher import ClusterGroup
from aioredpat.testing import command_counts, reset_command_counts
from benchmarks._common import median, redis_url, table

ROOT = Path(__file__).resolve().parent.parent


class User(pydantic.BaseModel):
    id: int
    name: str
    email: str
    roles: list[str]


Op = Callable[[int], Awaitable[Any]]
KEYS = 1000


async def rate(op: Op, ops: int, concurrency: int, keys: int) -> float:
    """Hits per second; task t asks for keys t, t + concurrency, ... modulo ``keys``."""
    per_task = ops // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_task):
            await op((offset + i * concurrency) % keys)

    started = time.perf_counter()
    await asyncio.gather(*(worker(t) for t in range(concurrency)))
    return per_task * concurrency / (time.perf_counter() - started)


def make_user(i: int) -> User:
    return User(id=i, name=f"user {i}", email=f"u{i}@example.com", roles=["admin", "dev"])


async def contenders(url: str, pool: RedisPool) -> dict[str, Op]:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    # redis-py's own pool fails past its bound instead of waiting, so a user gives it
    # room for every task in flight (its faster choice than BlockingConnectionPool)
    raw = redis.Redis.from_url(url, max_connections=1024)
    ours = CacheAside(pool, namespace="ours", ttl=3600, model=User)
    cashews = Cache()
    cashews.setup(url, max_connections=64)
    bounded = {"pool_max_size": 1024}  # the same room (aiocache's default pool is small)
    aio = RedisCache(serializer=PickleSerializer(), endpoint=host, port=int(port), **bounded)
    for i in range(KEYS):
        user = make_user(i)
        await raw.set(f"raw:{i}", user.model_dump_json())
        await ours.set(i, user)
        await cashews.set(f"cashews:{i}", user, expire=3600)
        await aio.set(f"aiocache:{i}", user, ttl=3600)

    async def raw_get(i: int) -> User:
        return User.model_validate_json(await raw.get(f"raw:{i}"))

    @cached(pool, namespace="ours-fn", ttl=3600)
    async def ours_fn(i: int) -> User:
        return make_user(i)

    @cashews(ttl="1h", lock=True)
    async def cashews_fn(i: int) -> User:
        return make_user(i)

    @aiocache_cached(ttl=3600, cache=RedisCache, serializer=PickleSerializer(),
                     endpoint=host, port=int(port), **bounded)  # fmt: skip
    async def aiocache_fn(i: int) -> User:
        return make_user(i)

    return {
        "raw redis-py GET + decode": raw_get,
        "aioredpat CacheAside.get": ours.get,
        "aioredpat @cached": ours_fn,
        "cashews cache.get": lambda i: cashews.get(f"cashews:{i}"),
        "cashews @cache(lock=True)": cashews_fn,
        "aiocache get": lambda i: aio.get(f"aiocache:{i}"),
        "aiocache @cached": aiocache_fn,
    }


CASES = [  # (label, concurrency, distinct keys, the bar against raw redis-py)
    ("1 task, 1000 keys", 1, KEYS, 0.95),
    ("50 tasks, 1000 keys", 50, KEYS, 3.0),
    ("500 tasks, 1000 keys", 500, KEYS, 3.0),
    ("50 tasks, one hot key", 50, 1, 0.9),
]
CLUSTER_CASES = [
    ("cluster, 50 tasks, 1000 keys", 50, KEYS, 2.0),
    ("cluster, 500 tasks, 1000 keys", 500, KEYS, 2.0),
]


async def cluster_contenders(urls: list[str], pool: RedisPool) -> dict[str, Op]:
    host, port = urls[0].removeprefix("redis://").split("/")[0].split(":")
    # redis-py's cluster client cannot wait for a free connection: it fails past its
    # bound, so a user gives it room for every task in flight
    raw = redis.RedisCluster(host=host, port=int(port), max_connections=1024)
    ours = CacheAside(pool, namespace="ours", ttl=3600, model=User)
    for i in range(KEYS):
        await raw.set(f"raw:{i}", make_user(i).model_dump_json())
        await ours.set(i, make_user(i))

    async def raw_get(i: int) -> User:
        return User.model_validate_json(await raw.get(f"raw:{i}"))

    return {"raw RedisCluster GET + decode": raw_get, "aioredpat CacheAside.get": ours.get}


async def measure(
    ops_by_name: dict[str, Op], cases: list[Any], ops: int, rounds: int
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for op in ops_by_name.values():  # warm up: connections, scripts, decorator fills
        for i in range(KEYS):
            assert await op(i) == make_user(i)
    for label, concurrency, keys, _ in cases:
        count = ops // 4 if concurrency == 1 else ops
        rates: dict[str, list[float]] = {name: [] for name in ops_by_name}
        for r in range(rounds):
            order = list(ops_by_name.items())
            for name, op in order if r % 2 == 0 else reversed(order):
                rates[name].append(await rate(op, count, concurrency, keys))
        results[label] = {name: median(values) for name, values in rates.items()}
    return results


async def hits(url: str, ops: int, rounds: int) -> dict[str, dict[str, float]]:
    async with RedisPool.from_url(url) as pool:
        return await measure(await contenders(url, pool), CASES, ops, rounds)


async def cluster_hits(urls: list[str], ops: int, rounds: int) -> dict[str, dict[str, float]]:
    async with RedisPool.cluster(urls) as pool:
        return await measure(await cluster_contenders(urls, pool), CLUSTER_CASES, ops, rounds)


async def stampede(url: str, processes: int = 4, tasks: int = 25) -> tuple[int, float]:
    async with RedisPool.from_url(url) as pool:
        client = pool.client
        await client.delete("bench:go", "bench:loader-calls")
        await client.unlink(*[key async for key in client.scan_iter("stampede:*")] or ["none"])
        command = [sys.executable, "-m", "benchmarks._cache_worker", url, str(tasks), "p-1"]
        workers = [
            await asyncio.create_subprocess_exec(*command, cwd=ROOT) for _ in range(processes)
        ]

        async def waiting() -> int:
            clients = await client.client_list()
            return sum(1 for c in clients if c.get("cmd") == "blpop")

        while await waiting() < processes:  # noqa: ASYNC110 - every worker connected, waiting
            await asyncio.sleep(0.05)
        await reset_command_counts(pool)
        await client.rpush("bench:go", *["go"] * processes)
        codes = [await worker.wait() for worker in workers]
        counts = await command_counts(pool)
        calls = int(await client.get("bench:loader-calls") or 0)
    if any(codes):
        raise SystemExit(f"a stampede worker failed: exit codes {codes}")
    ignored = {"info", "config|resetstat", "rpush", "incr", "blpop", "client|setinfo",
               "client|list", "hello", "ping", "get"}  # fmt: skip
    commands = sum(n for name, n in counts.items() if name not in ignored)
    # GET is both the cache's and the benchmark's: count the cache's (one per process
    # flight at most) separately from the final read of the loader counter above
    commands += max(0, counts.get("get", 0) - 1)
    return calls, commands / (processes * tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_url() as url:
        results = asyncio.run(hits(url, args.ops, args.rounds))
        calls, per_waiter = asyncio.run(stampede(url))
    with ClusterGroup() as cluster:
        on_cluster = asyncio.run(cluster_hits(cluster.urls, args.ops, args.rounds))
    ours = "aioredpat CacheAside.get"
    ok = True
    for cases, found, raw in (
        (CASES, results, "raw redis-py GET + decode"),
        (CLUSTER_CASES, on_cluster, "raw RedisCluster GET + decode"),
    ):
        for label, _, _, bar in cases:
            rates = found[label]
            print(f"\nhits, {label}, medians of {args.rounds} rounds\n")
            rows = [("implementation", "hits/s", "aioredpat get vs this")]
            for name, value in rates.items():
                rows.append((name, f"{value:,.0f}", f"{rates[ours] / value:.2f}x"))
            print(table(rows))
            peer = raw.removesuffix(" GET + decode")
            bars = {f">= {bar}x {peer}": rates[ours] / rates[raw] >= bar}
            if "cashews cache.get" in rates:
                bars[">= 1.4x cashews"] = rates[ours] / rates["cashews cache.get"] >= 1.4
                bars[">= 1.3x aiocache"] = rates[ours] / rates["aiocache get"] >= 1.3
            for name, met in bars.items():
                print(f"{'met' if met else 'MISSED'}: {name}")
                ok = ok and met
    print(f"\nstampede, 4 processes x 25 tasks: loader calls {calls}, "
          f"commands per waiter {per_waiter:.2f}")  # fmt: skip
    print(f"{'met' if calls == 1 else 'MISSED'}: 1 loader call")
    print(f"{'met' if per_waiter <= 3 else 'MISSED'}: <= 3 commands per waiter")


if __name__ == "__main__":
    main()
