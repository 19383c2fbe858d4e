"""Pipelines on Redis Cluster that keep one node's failure to that node.

redis-py's cluster pipeline sends one pipeline per node, but when any node's connection
fails it closes every connection of the client (the healthy nodes' replies in flight with
it), sleeps, and retries the whole batch: one dead master stalls every caller for seconds.
Here each command goes to the node that serves its slot, one pipeline per node, all nodes
at once; a node that fails fails only its own commands, and the slot table is refreshed in
the background (at most once a second) so that the next batch follows a failover. Replies
that redirect (MOVED, ASK, TRYAGAIN) are sent again through the client's own path, which
follows them. CLUSTERDOWN is an error like any other: redis-py's answer to it is to close
every connection of the client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode, PipelineCommand
from redis.crc import key_slot
from redis.exceptions import AskError, MovedError, TryAgainError

__all__ = ("node_pipelines", "request_refresh")

log = logging.getLogger("aioredpat")

REDIRECTS = (MovedError, AskError, TryAgainError)
_FIRST_KEY = frozenset({"GET", "MGET"})  # commands whose slot is their first key's
REFRESH_EVERY = 1.0  # seconds between two slot-table refreshes after failures

Command = tuple[tuple[Any, ...], dict[str, Any]]


class _Refresher:
    """Refreshes one client's slot table in the background, at most once a second."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None
        self.last = float("-inf")

    def request(self, client: RedisCluster) -> None:
        loop = asyncio.get_running_loop()
        if (
            self.task is not None and not self.task.done()
        ) or loop.time() - self.last < REFRESH_EVERY:
            return
        self.last = loop.time()
        self.task = loop.create_task(self._refresh(client))

    @staticmethod
    async def _refresh(client: RedisCluster) -> None:
        try:
            await client.nodes_manager.initialize()
        except Exception as error:  # the next failure asks again
            log.debug("refreshing the cluster's slot table failed: %r", error)


_refreshers: weakref.WeakKeyDictionary[RedisCluster, _Refresher] = weakref.WeakKeyDictionary()


def request_refresh(client: RedisCluster) -> None:
    """Refresh ``client``'s slot table in the background (at most once a second): a node
    failed, and a replica may be serving its slots now."""
    _refreshers.setdefault(client, _Refresher()).request(client)


async def _node_for(client: RedisCluster, args: tuple[Any, ...], target: Any) -> ClusterNode:
    if isinstance(target, ClusterNode):
        return target
    if args[0] in _FIRST_KEY:  # the reads every cache hit makes: no need to ask redis-py
        key = args[1]
        return client.nodes_manager.get_node_from_slot(
            key_slot(key.encode() if isinstance(key, str) else key)
        )
    slot: Any = client._determine_slot(*args)
    if inspect.isawaitable(slot):  # a coroutine from redis-py 7 on
        slot = await slot
    return client.nodes_manager.get_node_from_slot(int(slot))


async def node_pipelines(client: RedisCluster, commands: Sequence[Command]) -> list[Any]:
    """Send ``commands`` (``(args, options)`` pairs), one pipeline per node; returns each
    command's reply or error, in order."""
    if getattr(client, "_initialize", False):
        await client.initialize()  # the first use of the client: learn the topology
    groups: dict[str, tuple[ClusterNode, list[PipelineCommand]]] = {}
    queued: list[PipelineCommand] = []
    for position, (args, options) in enumerate(commands):
        options = dict(options)
        node = await _node_for(client, args, options.pop("target_nodes", None))
        command = PipelineCommand(position, *args, **options)
        groups.setdefault(node.name, (node, []))[1].append(command)
        queued.append(command)
    outcomes = await asyncio.gather(
        *(node.execute_pipeline(batch) for node, batch in groups.values()),
        return_exceptions=True,
    )
    for (_node, batch), outcome in zip(groups.values(), outcomes, strict=True):
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            for command in batch:
                command.result = outcome
            request_refresh(client)
    for command in queued:
        if isinstance(command.result, REDIRECTS):
            try:
                command.result = await client.execute_command(*command.args, **command.kwargs)
            except Exception as error:
                command.result = error
    return [command.result for command in queued]
