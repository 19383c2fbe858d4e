from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ResponseError

from aioredpat import (
    ConfigurationError,
    FixedWindow,
    MultiLimit,
    RateLimitExceeded,
    RateLimitResult,
    RedisPool,
    SlidingWindow,
    TokenBucket,
)
from aioredpat.ratelimit._clock import ServerClock
from aioredpat.testing import command_counts, reset_command_counts


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def every_limiter(pool: RedisPool, limit: int, window: float, clock=None) -> dict[str, object]:
    ns = "rl"
    return {
        "token_bucket": TokenBucket(
            pool, namespace=ns, capacity=limit, refill_rate=limit / window, clock=clock
        ),
        "sliding_window": SlidingWindow(
            pool, namespace=ns, limit=limit, window=window, clock=clock
        ),
        "sliding_window_approx": SlidingWindow(
            pool, namespace=ns, limit=limit, window=window, approximate=True, clock=clock
        ),
        "fixed_window": FixedWindow(pool, namespace=ns, limit=limit, window=window, clock=clock),
        "multi": MultiLimit(
            pool, namespace=ns, limits=[(limit, window), (limit * 10, window * 100)], clock=clock
        ),
    }


ALGORITHMS = ["token_bucket", "sliding_window", "sliding_window_approx", "fixed_window", "multi"]


async def test_token_bucket_bursts_then_refills(aioredpat_conn: RedisPool) -> None:
    clock = Clock()
    bucket = TokenBucket(aioredpat_conn, namespace="rl", capacity=5, refill_rate=2.0, clock=clock)
    burst = [await bucket.hit("u") for _ in range(6)]
    assert [r.allowed for r in burst] == [True] * 5 + [False]
    assert [r.remaining for r in burst[:5]] == [4, 3, 2, 1, 0]
    assert burst[5].retry_after == pytest.approx(0.5)
    assert burst[5].reset_after == pytest.approx(2.5)
    clock.now += 0.5
    assert (await bucket.hit("u")).allowed
    assert not (await bucket.hit("u")).allowed
    clock.now += 10  # refills only up to capacity
    results = [await bucket.hit("u") for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_denied_hits_consume_nothing(aioredpat_conn: RedisPool, algorithm: str) -> None:
    clock = Clock()
    limiter = every_limiter(aioredpat_conn, 3, 1.0, clock)[algorithm]
    for _ in range(3):
        assert (await limiter.hit("u")).allowed
    denied = [await limiter.hit("u") for _ in range(20)]
    assert not any(r.allowed for r in denied)
    assert len({(r.remaining, r.retry_after) for r in denied}) == 1  # nothing moved
    clock.now += denied[0].retry_after
    assert (await limiter.hit("u")).allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_concurrent_hits_allow_exactly_the_limit(aioredpat_conn: RedisPool, algorithm: str):
    limiter = every_limiter(aioredpat_conn, 37, 3600.0)[algorithm]
    results = await asyncio.gather(*(limiter.hit("crowd") for _ in range(250)))
    assert sum(r.allowed for r in results) == 37
    assert sorted(r.remaining for r in results if r.allowed) == list(range(37))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_one_command_per_hit(aioredpat_conn: RedisPool, algorithm: str) -> None:
    limiter = every_limiter(aioredpat_conn, 5, 60.0)[algorithm]
    await limiter.hit("warm")  # loads the script where needed
    await reset_command_counts(aioredpat_conn)
    for i in range(20):
        await limiter.hit(f"user-{i % 4}")
    await limiter.peek("user-0")
    counts = await command_counts(aioredpat_conn)
    # commandstats also counts what the scripts run inside the server
    inside_scripts = {
        "get",
        "set",
        "time",
        "zadd",
        "zrange",
        "zremrangebyscore",
        "zcard",
        "pexpire",
    }
    sent = {
        name: n
        for name, n in counts.items()
        if name not in inside_scripts | {"config", "config|resetstat"}
    }
    assert sent == {"evalsha": 21}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_cost_counts_and_cost_beyond_limit_fails(aioredpat_conn: RedisPool, algorithm: str):
    limiter = every_limiter(aioredpat_conn, 10, 60.0, Clock())[algorithm]
    assert (await limiter.hit("u", cost=4)).remaining == 6
    assert (await limiter.hit("u", cost=6)).remaining == 0
    assert not (await limiter.hit("u", cost=1)).allowed
    for bad in (0, 11, 1.5, "2", True):
        with pytest.raises(ConfigurationError, match="cost"):
            await limiter.hit("u", cost=bad)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_awkward_identifiers_are_isolated(aioredpat_conn: RedisPool, algorithm: str) -> None:
    limiter = every_limiter(aioredpat_conn, 2, 60.0)[algorithm]
    names = ["a", "{a}", "a}", "{a", "a:b", "a:{b}", "ünï漢😀", "", "%7Ba%7D", "x" * 1000]
    for name in names:
        assert [(await limiter.hit(name)).allowed for _ in range(3)] == [True, True, False]


async def test_every_key_has_a_ttl(aioredpat_conn: RedisPool) -> None:
    for limiter in every_limiter(aioredpat_conn, 3, 5.0).values():
        for i in range(5):
            await limiter.hit(f"ttl-{i}")
            await limiter.peek(f"ttl-{i}")
    client = aioredpat_conn.client
    keys = [key async for key in client.scan_iter(match="rl:*")]
    assert len(keys) == 30  # four single-key limiters and a two-limit MultiLimit, 5 ids
    ttls = [await client.pttl(key) for key in keys]
    assert all(ttl > 0 for ttl in ttls), dict(zip(keys, ttls, strict=True))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_script_flush_is_survived(aioredpat_conn: RedisPool, algorithm: str) -> None:
    limiter = every_limiter(aioredpat_conn, 3, 60.0)[algorithm]
    assert (await limiter.hit("u")).remaining == 2
    await aioredpat_conn.client.script_flush()
    assert (await limiter.hit("u")).remaining == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_peek_and_reset(aioredpat_conn: RedisPool, algorithm: str) -> None:
    limiter = every_limiter(aioredpat_conn, 2, 60.0)[algorithm]
    assert (await limiter.peek("u")).remaining == 1  # what a hit would leave
    assert (await limiter.peek("u")).remaining == 1  # and nothing was consumed
    await limiter.hit("u")
    await limiter.hit("u")
    assert not (await limiter.peek("u")).allowed
    await limiter.reset("u")
    assert (await limiter.hit("u")).remaining == 1


async def test_multi_limit_is_all_or_nothing(aioredpat_conn: RedisPool) -> None:
    clock = Clock()
    limits = MultiLimit(aioredpat_conn, namespace="rl", limits=[(2, 1.0), (3, 10.0)], clock=clock)
    assert [(await limits.hit("u")).allowed for _ in range(3)] == [True, True, False]
    clock.now += 1.0
    second = await limits.hit("u")
    assert second.allowed and second.remaining == 0  # the hourly-like limit has 1 left, now 0
    clock.now += 1.0
    denied = await limits.hit("u")
    assert not denied.allowed
    assert denied.retry_after == pytest.approx(8.0)  # the 10 s limit decides the wait
    clock.now += 8.0
    assert (await limits.hit("u")).allowed


async def test_acquire_waits_then_passes(aioredpat_conn: RedisPool) -> None:
    bucket = TokenBucket(aioredpat_conn, namespace="rl", capacity=1, refill_rate=50.0)
    results = [await bucket.acquire("waiter") for _ in range(4)]
    assert all(isinstance(r, RateLimitResult) and r.allowed for r in results)


async def test_acquire_times_out_with_retry_after(aioredpat_conn: RedisPool) -> None:
    window = FixedWindow(aioredpat_conn, namespace="rl", limit=1, window=3600.0)
    await window.hit("busy")
    with pytest.raises(RateLimitExceeded) as info:
        await window.acquire("busy", timeout=0.05)
    assert info.value.retry_after > 0.05


async def test_cancelled_acquire_consumes_nothing(aioredpat_conn: RedisPool) -> None:
    bucket = TokenBucket(aioredpat_conn, namespace="rl", capacity=2, refill_rate=0.001)
    await bucket.hit("c", cost=2)
    waiter = asyncio.create_task(bucket.acquire("c"))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (await bucket.peek("c")).remaining == 0
    await bucket.reset("c")
    assert (await bucket.hit("c", cost=2)).allowed  # the cancelled wait took nothing


async def test_token_bucket_state_is_constant_size(aioredpat_conn: RedisPool) -> None:
    bucket = TokenBucket(aioredpat_conn, namespace="rl", capacity=1000, refill_rate=1.0)
    await bucket.hit("mem")
    key = "rl:tmem"
    first = await aioredpat_conn.client.memory_usage(key)
    for _ in range(200):
        await bucket.hit("mem")
    assert await aioredpat_conn.client.memory_usage(key) == first
    assert await aioredpat_conn.client.object("encoding", key) == b"int"


async def test_decisions_ignore_a_wrong_client_clock(
    aioredpat_conn: RedisPool, monkeypatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: 0.0)  # a client clock stuck in 1970
    limiter = SlidingWindow(aioredpat_conn, namespace="rl", limit=2, window=3600.0)
    results = [await limiter.hit("clock") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    assert 3599 < results[2].retry_after <= 3600


async def test_server_clock_corrects_the_client_offset(aioredpat_pool: RedisPool, monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 7200.0)  # two hours behind
    from aioredpat._executor import executor_for

    clock = ServerClock(executor_for(aioredpat_pool))
    seconds, _ = await aioredpat_pool.client.time()
    assert abs(await clock.now_us() / 1e6 - seconds) < 5


async def test_server_refusing_time_in_scripts_uses_corrected_time(aioredpat_server_factory):
    server = aioredpat_server_factory()
    try:
        server.command("CONFIG", "SET", "lua-replicate-commands", "no")
    except ResponseError:
        pytest.skip("Redis 7 always allows TIME in scripts; only 6.x can refuse it")
    async with RedisPool.from_url(server.url) as pool:
        limiter = SlidingWindow(pool, namespace="rl", limit=2, window=3600.0)
        results = [await limiter.hit("legacy") for _ in range(3)]
        assert [r.allowed for r in results] == [True, True, False]
        assert limiter._server_clock is not None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: TokenBucket(p, namespace="x", capacity=0, refill_rate=1.0), "capacity"),
        (lambda p: TokenBucket(p, namespace="x", capacity=5, refill_rate=0), "refill_rate"),
        (lambda p: TokenBucket(p, namespace="x", capacity=5, refill_rate=-1.0), "refill_rate"),
        (lambda p: SlidingWindow(p, namespace="x", limit=5, window=0), "window"),
        (lambda p: SlidingWindow(p, namespace="x", limit=2.5, window=1.0), "limit"),
        (lambda p: FixedWindow(p, namespace="", limit=5, window=1.0), "namespace"),
        (lambda p: MultiLimit(p, namespace="x", limits=[]), "limits"),
        (lambda p: MultiLimit(p, namespace="x", limits=[(1, 1.0)], algorithm="leaky"), "algorithm"),
    ],
)
def test_bad_configuration_fails_at_construction(aioredpat_pool, make, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make(aioredpat_pool)
