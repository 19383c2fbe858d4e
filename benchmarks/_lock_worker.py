"""A waiter process for bench_lock: each round, wait for the lock, hold it, report times.

    python -m benchmarks._lock_worker <impl> <url> <rounds> <hold_ms>

Per round: BLPOP ``bench:lock:start`` (the harness holds the lock by then), acquire,
note ``perf_counter`` (CLOCK_MONOTONIC, shared by every process), hold ``hold_ms``, note the
time again and release, then RPUSH ``"<acquired>,<releasing>"`` to ``bench:lock:events``.

The hold is ``time.sleep``: the event loop's own timers round waits up to whole
milliseconds (``asyncio.sleep(0.005)`` held 5.3 ms on average here), which would charge
every implementation for time the lock has nothing to do with.
"""

from __future__ import annotations

import asyncio
import sys
import time

from redis.asyncio import Redis

from benchmarks._locks import make_lock


async def main(impl: str, url: str, rounds: int, hold_ms: float) -> None:
    signals = Redis.from_url(url)
    async with make_lock(impl, url) as lock:
        for _ in range(rounds):
            await signals.blpop(["bench:lock:start"], timeout=0)
            async with lock.hold():
                acquired = time.perf_counter()
                if hold_ms:
                    time.sleep(hold_ms / 1000)  # noqa: ASYNC251 - a precise hold, see above
                releasing = time.perf_counter()
            await signals.rpush("bench:lock:events", f"{acquired},{releasing}")
    await signals.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
