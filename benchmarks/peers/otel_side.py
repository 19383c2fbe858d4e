"""One side of bench_otel: cache hits and rate-limit hits under one telemetry setup.

python benchmarks/peers/otel_side.py none|api|sdk URL OPS -> JSON line of calls/s
python benchmarks/peers/otel_side.py none|api|sdk URL OPS cache|ratelimit -> OPS calls only
                                                              (for callgrind to count)

none: opentelemetry cannot be imported (what a user without the extra has);
api:  the API is installed, no SDK configured (instruments are no-ops);
sdk:  the SDK's meter provider with an in-memory reader, as an app exporting metrics has.
"""

import asyncio
import json
import sys
import time

MODE, URL, OPS = sys.argv[1], sys.argv[2], int(sys.argv[3])
ONLY = sys.argv[4] if len(sys.argv) > 4 else None  # one of the two calls, for instruction counts
if MODE == "none":
    sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # an ImportError
elif MODE == "sdk":
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))

from aioredpat import CacheAside, RedisPool, SlidingWindow  # noqa: E402
from aioredpat._telemetry import INSTRUMENTS  # noqa: E402


async def rate(op, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await op(i % 100)
    return n / (time.perf_counter() - started)


async def main() -> None:
    assert (INSTRUMENTS is None) == (MODE == "none")
    async with RedisPool.from_url(URL) as pool:
        cache = CacheAside(pool, namespace="otel-bench", ttl=3600)
        for i in range(100):
            await cache.set(i, {"id": i, "name": f"user {i}"})
        limiter = SlidingWindow(pool, namespace="otel-bench", limit=10**9, window=3600)
        await rate(cache.get, 500)  # warm
        await rate(limiter.hit, 500)
        if ONLY is not None:  # run under callgrind: only the calls, counted from outside
            call = cache.get if ONLY == "cache" else limiter.hit
            for i in range(OPS):
                await call(i % 100)
            return
        print(json.dumps({"cache hit": await rate(cache.get, OPS),
                          "rate-limit hit": await rate(limiter.hit, OPS)}))  # fmt: skip


asyncio.run(main())
