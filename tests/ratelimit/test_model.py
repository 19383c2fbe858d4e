"""The Lua scripts and the reference model answer identically to the same random sequences."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioredpat import FixedWindow, MultiLimit, RedisPool, SlidingWindow, TokenBucket

from .model import (
    ApproxSlidingWindowLimit,
    FixedWindowLimit,
    Model,
    SlidingWindowLimit,
    TokenBucketLimit,
)

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
START_US = 1_700_000_000_000_000
names = itertools.count()


@pytest.fixture(scope="module")
def run_and_pool(aioredpat_redis_url: str) -> Iterator[tuple[Runner, RedisPool]]:
    loop = asyncio.new_event_loop()
    pool = RedisPool.from_url(aioredpat_redis_url)
    yield loop.run_until_complete, pool
    loop.run_until_complete(pool.aclose())
    loop.close()


class Clock:
    def __init__(self) -> None:
        self.now_us = START_US

    def __call__(self) -> float:
        return self.now_us / 1e6


steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1_500_000),  # microseconds since the last step
        st.integers(min_value=1, max_value=3),  # cost
        st.booleans(),  # True: hit, False: peek
    ),
    min_size=1,
    max_size=40,
)
limits = st.integers(min_value=3, max_value=8)
windows_us = st.sampled_from([250_000, 1_000_000, 3_000_000])


def drive(run: Runner, limiter: Any, model: Model, clock: Clock, sequence: list) -> list[int]:
    """Feed both the same steps; return the injected times of allowed hits."""
    identifier = f"id-{next(names)}"
    allowed_at = []
    for delta, cost, is_hit in sequence:
        clock.now_us += delta
        call = limiter.hit if is_hit else limiter.peek
        got = run(call(identifier, cost))
        expected = model.check(clock.now_us, cost, consume=is_hit)
        as_us = (
            int(got.allowed),
            got.remaining,
            round(got.retry_after * 1e6),
            round(got.reset_after * 1e6),
        )
        assert as_us == expected, f"at {clock.now_us - START_US}us cost {cost} hit={is_hit}"
        if is_hit and got.allowed:
            allowed_at.extend([clock.now_us] * cost)
    return allowed_at


common = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@common
@given(capacity=limits, rate=st.sampled_from([0.5, 3.0, 7.0, 10.0]), sequence=steps)
def test_token_bucket_matches_model(run_and_pool, capacity: int, rate: float, sequence) -> None:
    run, pool = run_and_pool
    clock = Clock()
    bucket = TokenBucket(pool, namespace="m", capacity=capacity, refill_rate=rate, clock=clock)
    drive(run, bucket, Model([TokenBucketLimit(capacity, 1e6 / rate)]), clock, sequence)


@common
@given(limit=limits, window=windows_us, sequence=steps)
def test_sliding_window_matches_model_and_never_exceeds(run_and_pool, limit, window, sequence):
    run, pool = run_and_pool
    clock = Clock()
    limiter = SlidingWindow(pool, namespace="m", limit=limit, window=window / 1e6, clock=clock)
    allowed_at = drive(run, limiter, Model([SlidingWindowLimit(limit, window)]), clock, sequence)
    for i, start in enumerate(allowed_at):
        in_span = [t for t in allowed_at[i:] if t < start + window]
        assert len(in_span) <= limit


@common
@given(limit=limits, window=windows_us, sequence=steps)
def test_approximate_sliding_window_matches_model(run_and_pool, limit, window, sequence):
    run, pool = run_and_pool
    clock = Clock()
    limiter = SlidingWindow(
        pool, namespace="m", limit=limit, window=window / 1e6, approximate=True, clock=clock
    )
    drive(run, limiter, Model([ApproxSlidingWindowLimit(limit, window)]), clock, sequence)


@common
@given(limit=limits, window=windows_us, sequence=steps)
def test_fixed_window_matches_model(run_and_pool, limit, window, sequence) -> None:
    run, pool = run_and_pool
    clock = Clock()
    limiter = FixedWindow(pool, namespace="m", limit=limit, window=window / 1e6, clock=clock)
    drive(run, limiter, Model([FixedWindowLimit(limit, window)]), clock, sequence)


MODELS = {
    "sliding_window": lambda n, us: SlidingWindowLimit(n, us),
    "sliding_window_approx": lambda n, us: ApproxSlidingWindowLimit(n, us),
    "fixed_window": lambda n, us: FixedWindowLimit(n, us),
    "token_bucket": lambda n, us: TokenBucketLimit(n, us / n),
}


@common
@given(
    algorithm=st.sampled_from(sorted(MODELS)),
    pairs=st.lists(st.tuples(limits, windows_us), min_size=2, max_size=3),
    sequence=steps,
)
def test_multi_limit_matches_model(run_and_pool, algorithm, pairs, sequence) -> None:
    run, pool = run_and_pool
    clock = Clock()
    limiter = MultiLimit(
        pool,
        namespace="m",
        limits=[(n, us / 1e6) for n, us in pairs],
        algorithm=algorithm,
        clock=clock,
    )
    model = Model([MODELS[algorithm](n, us) for n, us in pairs])
    drive(run, limiter, model, clock, sequence)
