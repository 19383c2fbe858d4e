"""Server-assisted invalidation: Redis tells us when keys under a prefix change.

One connection per primary (per node on a cluster), speaking RESP2, runs
``CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>`` and then subscribes to
``__redis__:invalidate``: every change of a key under the prefix, by any client (writes,
deletes, expiry, eviction, FLUSHALL), arrives there as a message. RESP2 with a redirect
to itself keeps tracking and invalidations on one connection, so that losing it is seen
(the read fails) and cannot leave tracking half alive; RESP3 push messages would need a
client running RESP3 on every connection, which redis-py's asyncio client supports
unevenly across the versions aioredpat accepts.

A connection is trusted only while it is known to be current: it sends ``PING`` every
``PING_EVERY`` seconds, and a ``pong`` proves that every invalidation of a write made
before that PING has been read (they travel on the same connection, in order). Entries
may be served from memory only while the last confirmed PING was sent less than
``max_staleness`` ago, so a silent network cut, a paused server or a stalled event loop
stops serving from memory within that bound, before any reconnection. Each (re)connection
of a node starts a new ``epoch``; copies remembered under an older one are never served.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.crc import key_slot
from redis.exceptions import RedisError

from ._backoff import FAILURES, Backoff
from ._cluster import request_refresh

__all__ = ("Tracking",)

log = logging.getLogger("aioredpat")

CHANNEL = b"__redis__:invalidate"
PING_EVERY = 0.25  # seconds between two PINGs on a tracking connection
SETUP_TIMEOUT = 5.0  # seconds a (re)connection's handshake may take
DEAD_AFTER = 3.0  # seconds without a pong after which a connection is dropped
STANDALONE = "main"  # the node name of a standalone or Sentinel client


class NodeState:
    """One node's tracking connection, as readers see it."""

    __slots__ = ("confirmed", "epoch", "live")

    def __init__(self) -> None:
        self.epoch = 0
        self.live = False
        self.confirmed = float("-inf")  # time.monotonic() when the last answered PING was sent


class Tracking:
    """Invalidations of keys under ``prefix`` on every primary of ``client``.

    ``on_keys(keys)`` is called with the keys a message names; ``on_reset()`` when every
    copy must go (a connection lost or made, a FLUSHALL). Started on first use from a
    running loop (``start``); ``aclose`` stops it.
    """

    def __init__(
        self,
        client: Redis | RedisCluster,
        prefix: str,
        *,
        max_staleness: float,
        on_keys: Callable[[list[bytes]], None],
        on_reset: Callable[[], None],
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._max_staleness = max_staleness
        self._on_keys = on_keys
        self._on_reset = on_reset
        self._cluster = isinstance(client, RedisCluster)
        self.nodes: dict[str, NodeState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None

    # -- what readers ask ------------------------------------------------------------------

    @property
    def cluster(self) -> bool:
        return self._cluster

    def node_of(self, key: str) -> str:
        """The name of the node serving ``key`` now; "" when the client does not know yet
        (before its first command, or while a slot is uncovered): nothing is trusted then."""
        if not self._cluster:
            return STANDALONE
        manager = self._client.nodes_manager  # type: ignore[union-attr]
        try:
            node: ClusterNode | None = manager.get_node_from_slot(key_slot(key.encode()))
        except (KeyError, IndexError, RedisError):
            return ""
        return node.name if node is not None else ""

    def epoch_if_trusted(self, node: str) -> int | None:
        """The node's epoch when its invalidations are known current, else ``None``."""
        state = self.nodes.get(node)
        if state is None or not state.live:
            return None
        if time.monotonic() - state.confirmed >= self._max_staleness:
            return None
        return state.epoch

    def all_trusted(self) -> bool:
        return bool(self.nodes) and all(
            self.epoch_if_trusted(name) is not None for name in self.nodes
        )

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def aclose(self) -> None:
        tasks = [*self._tasks.values(), *filter(None, [self._supervisor])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._supervisor = None
        for state in self.nodes.values():
            state.live = False

    async def _supervise(self) -> None:
        """Keep one tracking task per primary; on a cluster, follow the primaries as the
        slot table changes (a failover, a new node)."""
        while True:
            primaries = await self._primaries()
            for name, node in primaries.items():
                task = self._tasks.get(name)
                if task is None or task.done():
                    self.nodes.setdefault(name, NodeState())
                    self._tasks[name] = asyncio.get_running_loop().create_task(
                        self._track(name, node)
                    )
            if primaries:  # a node that is no longer a primary (failed over) is let go
                for name in [name for name in self._tasks if name not in primaries]:
                    self._tasks.pop(name).cancel()
                    self.nodes.pop(name).live = False
            await anyio.sleep(1.0)

    async def _primaries(self) -> dict[str, ClusterNode | None]:
        if not self._cluster:
            return {STANDALONE: None}
        client: RedisCluster = self._client  # type: ignore[assignment]
        if getattr(client, "_initialize", False):
            try:
                await client.initialize()
            except FAILURES as error:
                log.debug("tracking: the cluster is not reachable yet (%r)", error)
                return {}
        return {node.name: node for node in client.get_primaries()}

    async def _track(self, name: str, node: ClusterNode | None) -> None:
        backoff = Backoff(first=0.1, cap=2.0)
        state = self.nodes[name]
        while True:
            try:
                await self._session(state, node)
            except FAILURES as error:
                log.warning(
                    "near cache: invalidations from %s lost (%r); reconnecting", name, error
                )
                if self._cluster:  # a failed primary may have been replaced: look again
                    request_refresh(self._client)  # type: ignore[arg-type]
            finally:
                if state.live:
                    state.live = False
                    self._on_reset()
            await backoff.sleep()

    async def _connection(self, node: ClusterNode | None) -> Any:
        """A connection of its own to ``node`` (or the client's server, Sentinel's current
        primary included), whose reads wait as long as it takes."""
        if node is not None:
            connection = node.connection_class(**node.connection_kwargs)
        else:
            pool = self._client.connection_pool  # type: ignore[union-attr]
            if isinstance(pool, SentinelConnectionPool):
                await pool.get_master_address()  # type: ignore[no-untyped-call]  # fails fast
            connection = pool.make_connection()
        connection.protocol = 2  # RESP2 whatever the client speaks (redis-py 8: RESP3)
        connection.socket_timeout = None
        if hasattr(connection, "io_timeout"):
            connection.io_timeout = None
        connection.health_check_interval = 0
        return connection

    async def _session(self, state: NodeState, node: ClusterNode | None) -> None:
        connection = await self._connection(node)
        try:
            with anyio.fail_after(SETUP_TIMEOUT):
                await connection.connect()
                await connection.send_command("CLIENT", "ID")
                own_id = await connection.read_response()
                await connection.send_command(
                    "CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST", "PREFIX", self._prefix
                )
                await connection.read_response()
                await connection.send_command("SUBSCRIBE", CHANNEL)
                await connection.read_response(push_request=True)
            pings: collections.deque[float] = collections.deque()
            loop = asyncio.get_running_loop()
            state.epoch += 1
            state.confirmed = time.monotonic()  # everything written before the subscription...
            state.live = True
            self._on_reset()  # ...is forgotten: copies start from this epoch
            pinger = loop.create_task(self._ping(connection, pings))
            try:
                while True:
                    # hiredis hands pub/sub replies over as push messages: ask for them
                    message = await connection.read_response(push_request=True)
                    self._receive(state, pings, message)
            finally:
                pinger.cancel()
        finally:
            await connection.disconnect()

    def _receive(self, state: NodeState, pings: collections.deque[float], message: Any) -> None:
        kind = message[0]
        if kind == b"pong":  # a PING's answer while subscribed, in RESP2
            if pings:
                state.confirmed = pings.popleft()
        elif kind == b"message" and message[1] == CHANNEL:
            if message[2] is None:
                self._on_reset()  # FLUSHALL, FLUSHDB
            else:
                self._on_keys(message[2])

    @staticmethod
    async def _ping(connection: Any, pings: collections.deque[float]) -> None:
        """PING every ``PING_EVERY``; a connection that leaves one unanswered for
        ``DEAD_AFTER`` is closed, which fails the session's read."""
        while True:
            await anyio.sleep(PING_EVERY)
            now = time.monotonic()
            if pings and now - pings[0] > DEAD_AFTER:
                log.warning("near cache: no answer to PING for %gs; reconnecting", DEAD_AFTER)
                await connection.disconnect(nowait=True)
                return
            pings.append(now)
            try:
                await connection.send_command("PING")
            except FAILURES:
                return  # the session's read fails too
