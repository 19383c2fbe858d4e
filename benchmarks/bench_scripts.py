"""Client CPU per script call: aioredpat's executor vs a raw redis-py ``evalsha``.

Both run the same script on the same server in one run, in alternating rounds, and the
median CPU time per call of each (``time.process_time``, the client's own CPU) is
compared. The bar: aioredpat's path costs at most 5% more than the raw call.

    uv run python -m benchmarks.bench_scripts [--calls 4000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from aioredpat import RedisPool
from aioredpat._executor import executor_for
from aioredpat._scripts import LuaScript
from benchmarks._common import median, redis_url, table

SCRIPT = LuaScript("core_delete_if_equals")
BAR = 1.05


async def cpu_per_call(call: Callable[[int], Awaitable[object]], calls: int) -> float:
    start = time.process_time()
    for i in range(calls):
        await call(i)
    return (time.process_time() - start) / calls


async def run(url: str, calls: int, rounds: int) -> bool:
    async with RedisPool.from_url(url) as pool:
        client, executor = pool.client, executor_for(pool)
        sha = await client.script_load(SCRIPT.source)
        assert sha == SCRIPT.sha
        keys = [f"bench:scripts:{i}" for i in range(64)]

        def raw(i: int) -> Awaitable[object]:
            return client.evalsha(sha, 1, keys[i % 64], "token")

        def ours(i: int) -> Awaitable[object]:
            return executor.run_script(SCRIPT, [keys[i % 64]], ["token"])

        await cpu_per_call(raw, 500)  # warm up both paths and the connection
        await cpu_per_call(ours, 500)
        samples: dict[str, list[float]] = {"raw redis-py evalsha": [], "aioredpat run_script": []}
        for r in range(rounds):
            order = [("raw redis-py evalsha", raw), ("aioredpat run_script", ours)]
            for name, call in order if r % 2 == 0 else reversed(order):
                samples[name].append(await cpu_per_call(call, calls))
    raw_cpu = median(samples["raw redis-py evalsha"])
    rows = [("path", "median CPU/call (us)", "ratio to raw")]
    for name, values in samples.items():
        rows.append((name, f"{median(values) * 1e6:.1f}", f"{median(values) / raw_cpu:.3f}"))
    print(table(rows))
    ratio = median(samples["aioredpat run_script"]) / raw_cpu
    verdict = "meets" if ratio <= BAR else "MISSES"
    print(f"\naioredpat/raw CPU ratio {ratio:.3f}: {verdict} the bar of {BAR:.2f}")
    return ratio <= BAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with redis_url() as url:
        ok = asyncio.run(run(url, args.calls, args.rounds))
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
