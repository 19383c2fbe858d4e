"""``RedisPool``: the one async connection pool that patterns share.

Made for standalone servers (``from_url``), Redis Cluster (``cluster``) and
Sentinel-managed masters (``sentinel``), each with production defaults that any keyword
overrides:

- a bounded pool (``max_connections``, default 64) where a burst of callers waits up to
  ``pool_timeout`` seconds (default 10) for a free connection instead of failing;
- ``socket_timeout`` / ``socket_connect_timeout`` (default 5 s) so a dead server is noticed;
- ``health_check_interval`` (default 15 s): an idle connection is PINGed before reuse;
- ``retries`` (default 3) with exponential backoff and jitter on connection errors;
- ``max_value_size`` (default 16 MiB): a pattern refuses to store an encoded value past it
  with ``ValueTooLarge`` (Redis itself takes up to 512 MB, far past what is sane to move
  through one command).

Other keywords go to redis-py unchanged (``password``, ``ssl_ca_certs``, ``db`` ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from ._executor import MAX_VALUE_SIZE, Client, Executor, Gate
from ._pools import (
    CONNECTION_CLASSES,
    DeadlineConnection,
    DeadlineSentinelConnection,
    WaitingConnectionPool,
    WaitingSentinelConnectionPool,
)
from .errors import ConfigurationError

__all__ = ("RedisPool",)

_DEFAULTS: dict[str, Any] = {
    "socket_timeout": 5.0,
    "socket_connect_timeout": 5.0,
    "health_check_interval": 15.0,
}


def _retry(retries: int) -> Retry:
    if retries < 0:
        raise ConfigurationError(f"retries must be >= 0, got {retries}")
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries)


def _check_limits(max_connections: int, pool_timeout: float | None, max_value_size: int) -> None:
    if (
        isinstance(max_value_size, bool)
        or not isinstance(max_value_size, int)
        or not (1 <= max_value_size <= 512 * 1024 * 1024)
    ):
        raise ConfigurationError(
            f"max_value_size must be an int of bytes from 1 to 512 MB, got {max_value_size!r}"
        )
    if max_connections < 1:
        raise ConfigurationError(f"max_connections must be >= 1, got {max_connections}")
    if pool_timeout is not None and pool_timeout <= 0:
        raise ConfigurationError(f"pool_timeout must be > 0 seconds or None, got {pool_timeout}")


def _use_connection_class(client: RedisCluster, connection_class: type) -> None:
    """Make a cluster client's nodes use ``connection_class`` (plain TCP nodes only).

    redis-py's cluster client takes no connection class; its nodes manager hands one to
    every node it makes, so it is set there (for nodes found later) and on the start nodes.
    """
    manager = getattr(client, "nodes_manager", None)
    kwargs = getattr(manager, "connection_kwargs", None)
    if not isinstance(kwargs, dict) or kwargs.get("connection_class") is not Connection:
        return  # TLS, or a redis-py that works differently: keep its own
    kwargs["connection_class"] = connection_class
    for node in getattr(manager, "startup_nodes", {}).values():
        if getattr(node, "connection_class", None) is Connection:
            node.connection_class = connection_class


class RedisPool:
    """A shared client plus the internal call path (``Executor``) that patterns use.

    ``pool.client`` is the underlying ``redis.asyncio.Redis`` or ``RedisCluster``; use it
    freely for your own commands. ``async with pool:`` (or ``await pool.aclose()``) closes
    every connection.
    """

    __slots__ = ("_closers", "_executor")

    def __init__(
        self,
        client: Client,
        *,
        gate: Gate | None = None,
        closers: Sequence[Any] = (),
        max_value_size: int = MAX_VALUE_SIZE,
    ):
        self._executor = Executor(client, gate=gate, max_value_size=max_value_size)
        self._closers = tuple(closers)

    @property
    def client(self) -> Client:
        return self._executor.client

    @property
    def is_cluster(self) -> bool:
        return self._executor.is_cluster

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        max_connections: int = 64,
        pool_timeout: float | None = 10.0,
        retries: int = 3,
        max_value_size: int = MAX_VALUE_SIZE,
        **options: Any,
    ) -> RedisPool:
        """A standalone server at ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
        _check_limits(max_connections, pool_timeout, max_value_size)
        scheme = urlsplit(url).scheme
        if scheme in CONNECTION_CLASSES:  # writes that keep cancellations (see _pools)
            options.setdefault("connection_class", CONNECTION_CLASSES[scheme])
        pool = WaitingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=pool_timeout,
            retry=_retry(retries),
            **{**_DEFAULTS, **options},
        )
        # the client owns the pool and closes it
        return cls(Redis.from_pool(pool), max_value_size=max_value_size)

    @classmethod
    def cluster(
        cls,
        urls: str | Sequence[str],
        *,
        max_connections: int = 64,
        pool_timeout: float | None = 10.0,
        retries: int = 3,
        max_value_size: int = MAX_VALUE_SIZE,
        **options: Any,
    ) -> RedisPool:
        """Redis Cluster, discovered from one or more node URLs.

        Credentials and TLS settings come from the first URL. ``max_connections`` bounds
        both the calls in flight and each node's connections.
        """
        _check_limits(max_connections, pool_timeout, max_value_size)
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ConfigurationError("cluster() needs at least one node URL")
        nodes = []
        for url in urls:
            parts = urlsplit(url)
            if parts.hostname is None:
                raise ConfigurationError(f"cluster node URL has no host: {url!r}")
            nodes.append(ClusterNode(parts.hostname, parts.port or 6379))
        client = RedisCluster.from_url(
            urls[0],
            startup_nodes=nodes,
            max_connections=max_connections,
            retry=_retry(retries),
            **{**_DEFAULTS, **options},
        )
        _use_connection_class(client, DeadlineConnection)
        return cls(client, gate=Gate(max_connections, pool_timeout), max_value_size=max_value_size)

    @classmethod
    def sentinel(
        cls,
        sentinels: Sequence[tuple[str, int]],
        service_name: str,
        *,
        max_connections: int = 64,
        pool_timeout: float | None = 10.0,
        retries: int = 3,
        max_value_size: int = MAX_VALUE_SIZE,
        sentinel_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> RedisPool:
        """The master that the given sentinels report for ``service_name``.

        Connections follow a failover: the master's address is asked of the sentinels
        again when a connection is made. ``sentinel_options`` go to the connections to the
        sentinels themselves (for example their password).
        """
        _check_limits(max_connections, pool_timeout, max_value_size)
        if not sentinels:
            raise ConfigurationError("sentinel() needs at least one (host, port) sentinel")
        addresses = [(host, int(port)) for host, port in sentinels]
        sentinel_kwargs = {**_DEFAULTS, **(sentinel_options or {})}
        sentinel = Sentinel(addresses, sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
        # the clients that ask the sentinels for the master get cancellation-safe writes too
        sentinel.sentinels = [
            Redis.from_pool(
                ConnectionPool(
                    host=host, port=port, connection_class=DeadlineConnection, **sentinel_kwargs
                )
            )
            for host, port in addresses
        ]
        client = sentinel.master_for(
            service_name,
            connection_pool_class=WaitingSentinelConnectionPool,
            connection_class=DeadlineSentinelConnection,
            max_connections=max_connections,
            timeout=pool_timeout,
            retry=_retry(retries),
            **{**_DEFAULTS, **options},
        )
        return cls(client, closers=sentinel.sentinels, max_value_size=max_value_size)

    async def ping(self) -> bool:
        """Whether Redis answers a PING now (on a cluster: every primary), for health
        checks; never raises for an unreachable server."""
        options: dict[str, Any] = {}
        if self.is_cluster:
            options["target_nodes"] = RedisCluster.PRIMARIES
        try:
            return bool(await self._executor.execute("PING", **options))
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        """Close every connection of the pool (and those to the sentinels). Patterns made
        on it raise ``RuntimeError`` afterwards, naming this pool."""
        await self._executor.aclose(closed_by=repr(self))
        await self.client.aclose()
        for closer in self._closers:
            await closer.aclose()

    async def __aenter__(self) -> RedisPool:
        if self._executor.closed_by is not None:
            raise RuntimeError(f"{self!r} is closed: make a new pool to use it again")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        kind = "cluster" if self.is_cluster else "standalone"
        return f"<RedisPool {kind} {self.client!r}>"
