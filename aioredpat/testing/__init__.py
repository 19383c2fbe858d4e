"""Real Redis servers for tests, and the helpers tests use with them.

Importable without pytest: ``RedisServer``, ``ClusterGroup``, ``SentinelGroup`` and
``FaultProxy`` start and break real servers anywhere (``with RedisServer() as server:``);
``command_counts`` and ``reset_command_counts`` read ``INFO commandstats``.

The pytest plugin (``aioredpat.testing.plugin``, registered through the ``pytest11``
entry point) provides the fixtures, every name prefixed ``aioredpat_``:

===============================  =======  ===================================================
fixture                          scope    what it gives
===============================  =======  ===================================================
``aioredpat_server_binary``      session  path of the ``redis-server`` used
``aioredpat_redis_url``          session  URL of a standalone server (``REDIS_URL`` when set)
``aioredpat_cluster``            session  a started 3-master ``ClusterGroup``
``aioredpat_masters``            session  three independent ``RedisServer`` masters (Redlock)
``aioredpat_sentinel``           session  a ``SentinelGroup``: master, replica and one sentinel
``aioredpat_server_factory``     test     ``factory()`` starts a private ``RedisServer``
``aioredpat_cluster_factory``    test     ``factory(replicas=1)`` starts a private cluster
``aioredpat_proxy_factory``      test     ``factory(server)``: a ``FaultProxy`` in front of it
``aioredpat_pool``               test     a ``RedisPool`` on the standalone server, flushed
``aioredpat_cluster_pool``       test     a ``RedisPool`` on the cluster, flushed
``aioredpat_conn``               test     parametrized: standalone, then cluster
===============================  =======  ===================================================

The names of earlier releases (``redis_pool``, ``redis_conn``...) still work for this
release, with a ``DeprecationWarning``.

Faults to inject, for tests of what your code does when Redis misbehaves:

- ``FaultProxy`` (``aioredpat_proxy_factory``): pause, delay, drop or cut the traffic
  between your client and a server, or refuse new connections;
- ``RedisServer.kill()`` / ``restart()`` (a crash, then the same port again),
  ``pause()`` / ``resume()`` (SIGSTOP / SIGCONT);
- ``ClusterGroup(replicas=1).kill_master(node)``: a master dies and its replica takes over
  (``master_of(key)`` finds the node that serves a key).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from redis.asyncio import RedisCluster

from .._executor import executor_for
from .._faults import FaultProxy
from .._launcher import (
    ClusterGroup,
    RedisServer,
    SentinelGroup,
    find_redis_server,
    server_version,
)

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
