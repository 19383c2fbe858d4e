"""The fault-injection harness itself: each fault does what it says."""

from __future__ import annotations

import socket

import anyio
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredpat.testing import RedisServer


def client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


async def test_proxy_forwards_and_pause_holds_replies(
    aioredpat_server_factory, aioredpat_proxy_factory
):
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with client(proxy.url) as redis:
        assert await redis.ping()
        proxy.pause()
        with pytest.raises(RedisTimeoutError):
            await redis.ping()
        proxy.resume()
        assert await redis.ping()


async def test_proxy_cut_resets_connections(aioredpat_server_factory, aioredpat_proxy_factory):
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with aioredis.Redis.from_url(proxy.url, retry=None) as redis:
        await redis.ping()
        assert proxy.connections == 1
        proxy.cut()
        assert proxy.connections == 0
        with pytest.raises(RedisConnectionError):
            await redis.ping()


async def test_proxy_drop_and_refuse(aioredpat_server_factory, aioredpat_proxy_factory):
    proxy = aioredpat_proxy_factory(aioredpat_server_factory())
    async with client(proxy.url) as redis:
        await redis.ping()
        proxy.drop()
        with pytest.raises(RedisTimeoutError):
            await redis.ping()
        proxy.undrop()
    proxy.refuse()
    async with aioredis.Redis.from_url(proxy.url, retry=None) as redis:
        with pytest.raises(RedisConnectionError):
            await redis.ping()
    proxy.accept()
    async with client(proxy.url) as redis:
        assert await redis.ping()


async def test_server_pause_resume_and_restart(aioredpat_server_factory):
    server = aioredpat_server_factory()
    async with client(server.url) as redis:
        await redis.set("k", "v")
        server.pause()
        with pytest.raises(RedisTimeoutError):
            await redis.get("k")
        server.resume()
        with anyio.fail_after(10):
            while True:
                try:
                    assert await redis.get("k") == b"v"
                    break
                except (RedisConnectionError, RedisTimeoutError):
                    await anyio.sleep(0.05)
        server.restart()
        with anyio.fail_after(10):
            while True:
                try:
                    assert await redis.get("k") is None  # nothing persisted
                    break
                except (RedisConnectionError, RedisTimeoutError):
                    await anyio.sleep(0.05)


async def test_killing_a_cluster_master_promotes_its_replica(aioredpat_cluster_factory):
    cluster = aioredpat_cluster_factory(replicas=1, node_timeout=1000)
    master = cluster.master_of("some-key")
    cluster.kill_master(master)
    promoted = cluster.master_of("some-key")
    assert promoted is not master and promoted.process is not None


def test_a_port_taken_before_the_server_binds_it_moves_the_server(aioredpat_server_binary) -> None:
    server = RedisServer(aioredpat_server_binary)
    chosen = server.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", chosen))  # another process got there first
        squatter.listen()
        try:
            server.start()
            assert server.port != chosen and server.ping()
            moved = server.port
            server.restart()
            assert server.port == moved  # a restart keeps its port
        finally:
            server.cleanup()
