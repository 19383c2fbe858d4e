"""A read-mostly client for the operator commands: standalone or cluster, found from a URL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis, RedisCluster

__all__ = ("connect", "nodes", "scan_keys", "text")

Client = Any  # Redis | RedisCluster: replies differ between the two and across versions


def url_or_env(url: str | None) -> str:
    found = url or os.environ.get("REDIS_URL")
    if not found:
        raise SystemExit("no Redis to look at: pass --url or set REDIS_URL")
    return found


async def connect(url: str, *, timeout: float = 3.0) -> Client:
    """A client for ``url``: a cluster client when the server is in cluster mode. Raises
    redis-py's ``ConnectionError`` or ``TimeoutError`` when it cannot be reached."""
    client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = await client.info("cluster")
    except BaseException:
        await client.aclose()
        raise
    if info.get("cluster_enabled"):
        await client.aclose()
        cluster = RedisCluster.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        await cluster.initialize()
        return cluster
    return client


def nodes(client: Client) -> list[Any]:
    """The primaries to ask (``None`` for a standalone server)."""
    if isinstance(client, RedisCluster):
        return list(client.get_primaries())
    return [None]


async def node_call(client: Client, node: Any, *args: Any) -> Any:
    """``args`` on one primary (``None``: the standalone server), its reply as one server's."""
    if node is None:
        return await client.execute_command(*args)
    return await node.execute_command(*args)


async def scan_keys(
    client: Client, *, limit: int, match: str | None = None
) -> AsyncIterator[tuple[Any, bytes]]:
    """Up to ``limit`` keys per primary, with SCAN (never KEYS): (node, key) pairs."""
    for node in nodes(client):
        cursor, seen = 0, 0
        while True:
            args: list[Any] = ["SCAN", cursor, "COUNT", 500]
            if match is not None:
                args += ["MATCH", match]
            cursor, keys = await node_call(client, node, *args)
            for key in keys:
                yield node, key
                seen += 1
                if seen >= limit:
                    break
            if seen >= limit or int(cursor) == 0:
                break


def text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
