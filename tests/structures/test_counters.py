"""UniqueCounter and BloomFilter: counts and memberships within their promised errors."""

from __future__ import annotations

import math

import pytest

from aioredpat import BloomFilter, ConfigurationError, RedisPool, UniqueCounter
from aioredpat.testing import reset_command_counts
from tests.cache._helpers import commands, keys_without_ttl


async def test_unique_items_are_counted_once(aioredpat_conn: RedisPool) -> None:
    counter = UniqueCounter(aioredpat_conn, namespace="visits", bucket=3600, ttl=7200)
    await counter.add("page-1", "ann", "bob", "ann")
    await counter.add("page-1", "bob", "cat")
    await counter.add("page-2", "ann")
    assert await counter.count("page-1") == 3
    assert await counter.count("page-2") == 1
    assert await counter.count("page-3") == 0
    assert await counter.count("page-1", buckets=24) == 3  # earlier buckets are empty
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_a_large_count_is_within_two_percent(aioredpat_conn: RedisPool) -> None:
    counter = UniqueCounter(aioredpat_conn, namespace="big", bucket=86400, ttl=86400)
    items = [f"user-{i}" for i in range(100_000)]
    for start in range(0, len(items), 10_000):
        await counter.add("all", *items[start : start + 10_000])  # chunked inside
    await reset_command_counts(aioredpat_conn)
    estimate = await counter.count("all", buckets=3)
    assert await commands(aioredpat_conn) == {"pfcount": 1}  # several buckets, one command
    assert abs(estimate - 100_000) / 100_000 < 0.02


async def test_unique_counter_settings_are_checked(aioredpat_conn: RedisPool) -> None:
    with pytest.raises(ConfigurationError, match="must be at least bucket"):
        UniqueCounter(aioredpat_conn, namespace="x", bucket=3600, ttl=60)
    counter = UniqueCounter(aioredpat_conn, namespace="x", bucket=60, ttl=60)
    with pytest.raises(ConfigurationError, match="buckets must be an int >= 1"):
        await counter.count("k", buckets=0)
    with pytest.raises(ConfigurationError, match="members are str"):
        await counter.add("k", 5)  # type: ignore[arg-type]


async def test_a_bloom_filter_has_no_false_negatives(aioredpat_conn: RedisPool) -> None:
    bloom = BloomFilter(aioredpat_conn, "emails", capacity=1000, error_rate=0.01, ttl=600)
    assert await bloom.add("a@x", "b@x") == 2
    assert await bloom.add("a@x", "c@x") == 1
    assert await bloom.contains("a@x") is True
    assert await bloom.contains_many(["b@x", "c@x", "\ud800", ""]) == [True, True, False, False]
    assert await bloom.contains_many([]) == []
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_false_positives_and_memory_at_capacity(aioredpat_conn: RedisPool) -> None:
    capacity, rate = 20_000, 0.01
    bloom = BloomFilter(aioredpat_conn, "sized", capacity=capacity, error_rate=rate)
    added = [f"in-{i}" for i in range(capacity)]
    for start in range(0, capacity, 2000):
        await bloom.add(*added[start : start + 2000])
    assert all(await bloom.contains_many(added))  # no false negatives
    probes = [f"out-{i}" for i in range(20_000)]
    positives = sum(await bloom.contains_many(probes))
    assert positives / len(probes) <= 1.5 * rate
    optimum_bytes = -capacity * math.log(rate) / math.log(2) ** 2 / 8
    used = await aioredpat_conn.client.memory_usage(bloom._key)
    assert used <= 1.1 * optimum_bytes


def test_bloom_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="error_rate must be between 0 and 1"):
        BloomFilter(None, "x", capacity=10, error_rate=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="past Redis' 512 MB"):
        BloomFilter(None, "x", capacity=10**10, error_rate=0.001)  # type: ignore[arg-type]
