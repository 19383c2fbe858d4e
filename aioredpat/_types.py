"""Names for what patterns accept, shared by their signatures (for type checkers and the
reference docs): the connection, a duration, and the keyword options of each family."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, Union

from redis.asyncio import Redis, RedisCluster

if TYPE_CHECKING:
    from .cache._near import NearCache
    from .pool import RedisPool

__all__ = (
    "CacheOptions",
    "Connection",
    "ConsumerOptions",
    "Duration",
    "Loader",
    "ProducerOptions",
    "PubSubOptions",
    "WriteBehindOptions",
)

Connection: TypeAlias = Union["RedisPool", Redis, RedisCluster]
"""A pattern's first argument: a ``RedisPool`` or one of redis-py's asyncio clients."""

Duration: TypeAlias = float | datetime.timedelta
"""Seconds as a number, or a ``timedelta``."""

Loader: TypeAlias = Callable[[str], Awaitable[Any]]
"""``async (key) -> value``: what a cache calls on a miss (the value is validated)."""


class CacheOptions(TypedDict, total=False):
    """The tuning keywords shared by ``CacheAside``, ``WriteThrough`` and ``@cached``."""

    negative_ttl: Duration | None
    early_refresh: float | None
    stale_ttl: Duration | None
    lease_ttl: Duration
    max_ttl: Duration | None
    fail_open: bool
    near_cache: NearCache | None


class ConsumerOptions(TypedDict, total=False):
    """The keywords shared by ``StreamConsumer`` and ``BatchStreamConsumer``."""

    concurrency: int
    batch_size: int
    claim_idle: Duration
    max_deliveries: int
    dead_letter: str | None
    start: Literal["backlog", "new"]
    block: Duration
    stop_timeout: Duration


class WriteBehindOptions(TypedDict, total=False):
    """``WriteBehind``'s tuning keywords."""

    batch_size: int
    flush_interval: Duration
    claim_idle: Duration
    max_attempts: int
    dead_letter: str | None
    shards: int | None
    stop_timeout: Duration
    max_backoff: Duration


class ProducerOptions(TypedDict, total=False):
    """``StreamProducer``'s keywords besides the model."""

    maxlen: int | None
    approximate: bool


class PubSubOptions(TypedDict, total=False):
    """``PubSub``'s keywords besides the model."""

    buffer: int
    on_gap: Callable[[Any], object] | None
