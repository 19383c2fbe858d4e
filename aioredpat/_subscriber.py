"""``Subscriber``: one supervised pub/sub connection, the core of ``Notifier`` and ``PubSub``.

A reader task runs while anything is subscribed. When the connection fails it is closed,
``_lost`` is called once, and the reader reconnects with capped backoff and jitter,
subscribing again to what ``_wanted`` still lists; once that worked, ``_restored`` is called
once. An outage is logged in one line when it starts and one when it ends. redis-py's
``PubSub`` may also reconnect by itself inside a read (when the client has retries): that is
reported the same way, lost then restored, since messages were missed all the same.

On a cluster the subscriber connects to one primary: classic PUBLISH reaches every node.
Subclasses say what to subscribe (``_wanted``) and what a message means (``_dispatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from typing import Any

from redis.asyncio import Redis, RedisCluster

from ._backoff import Backoff

__all__ = ("Subscriber", "subscriber_for_cluster")

log = logging.getLogger("aioredpat")


def subscriber_for_cluster(cluster: RedisCluster) -> Redis:
    """A plain client on one of the cluster's primaries, for subscribing: classic PUBLISH
    reaches every node, so one connection hears every channel. Its reads never time out
    (a subscriber waits for messages); the caller closes it."""
    node = cluster.get_primaries()[0]
    accepted = inspect.signature(Redis.__init__).parameters
    options = {k: v for k, v in node.connection_kwargs.items() if k in accepted}
    return Redis(**{**options, "socket_timeout": None})


class Subscriber:
    """See the module docstring. ``aclose()`` stops the reader and closes the connection."""

    READ_TIMEOUT = 1.0  # seconds one read waits, so that ``_after_read`` runs that often
    MAX_BACKOFF = 2.0

    def __init__(self, client: Redis | RedisCluster) -> None:
        self._client = client
        self._pubsub: Any = None
        self._own_client: Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._down = False  # between a loss and the resubscription that ends it
        # redis-py's PubSub takes its connection on first use without a lock: concurrent
        # (un)subscribes could each take one, and all but the last would go unheard
        self._commands = asyncio.Lock()

    # -- what subclasses say --------------------------------------------------------------

    def _wanted(self) -> tuple[list[str], list[str]]:
        """The channels and the patterns to be subscribed to now."""
        raise NotImplementedError

    def _dispatch(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    def _lost(self) -> None:
        """The connection failed; messages may be missed until ``_restored``."""

    def _restored(self) -> None:
        """Subscribed again after a loss."""

    async def _after_read(self) -> None:
        """Runs after every read (a message or ``READ_TIMEOUT`` without one)."""

    # -- subscribing ----------------------------------------------------------------------

    async def _send(self, command: str, *names: str) -> None:
        """``SUBSCRIBE``, ``PSUBSCRIBE``, ``UNSUBSCRIBE`` or ``PUNSUBSCRIBE`` ``names`` on the
        shared connection (made on first use), and make sure the reader runs."""
        async with self._commands:
            if self._pubsub is None:
                self._pubsub = self._connection_client().pubsub()
            await getattr(self._pubsub, command)(*names)
            self._watch_reconnects()
        self._ensure_reader()

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            # owned here: stopped by aclose(); its failures are handled inside, never lost
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())
            self._reader.add_done_callback(self._report_crash)

    def _connection_client(self) -> Redis:
        if isinstance(self._client, RedisCluster):
            if self._own_client is None:
                self._own_client = subscriber_for_cluster(self._client)
            return self._own_client
        return self._client

    def _watch_reconnects(self) -> None:
        connection = getattr(self._pubsub, "connection", None)
        if connection is not None:
            connection.deregister_connect_callback(self._on_connect)  # never twice
            connection.register_connect_callback(self._on_connect)

    def _on_connect(self, connection: object) -> None:
        """redis-py reconnected this connection by itself (and subscribes again)."""
        log.warning("%r: the pub/sub connection was made again", self)
        self._lost()
        self._restored()

    # -- the reader -----------------------------------------------------------------------

    def _active(self) -> bool:
        channels, patterns = self._wanted()
        return bool(channels or patterns)

    async def _read_forever(self) -> None:
        backoff = Backoff(cap=self.MAX_BACKOFF)
        while self._active():
            try:
                if self._pubsub is None:
                    raise ConnectionError("not connected")
                message = await self._pubsub.get_message(timeout=self.READ_TIMEOUT)
                if message is not None:
                    self._dispatch(message)
                await self._after_read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                await self._reconnect(error, backoff)
                continue
            backoff.reset()
        # nothing is listened to: hand over before awaiting, so a new listener starts afresh
        if self._reader is asyncio.current_task():
            self._reader = None
        await self._close_connection()

    async def _reconnect(self, error: Exception, backoff: Backoff) -> None:
        """Close the failed connection, then subscribe again until it works (or nothing is
        wanted any more)."""
        if not self._down:
            self._down = True
            log.warning("%r: pub/sub connection lost (%r); reconnecting", self, error)
            self._lost()
        await self._close_connection()
        while self._active():
            await backoff.sleep()
            channels, patterns = self._wanted()
            try:
                async with self._commands:
                    self._pubsub = self._connection_client().pubsub()
                    if channels:
                        await self._pubsub.subscribe(*channels)
                    if patterns:
                        await self._pubsub.psubscribe(*patterns)
                    self._watch_reconnects()
            except Exception as failure:
                log.debug("%r: resubscribing failed (%r)", self, failure)
                await self._close_connection()
                continue
            self._down = False
            log.warning("%r: pub/sub connection made again; subscribed", self)
            self._restored()
            return

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("a pub/sub reader stopped", exc_info=task.exception())

    # -- closing --------------------------------------------------------------------------

    async def _close_connection(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is None:
            return
        connection = getattr(pubsub, "connection", None)
        if connection is not None:  # it goes back to the pool: take the callback off
            connection.deregister_connect_callback(self._on_connect)
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    async def aclose(self) -> None:
        """Stop the reader and close the subscriber connection."""
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._close_connection()
        if self._own_client is not None:
            await self._own_client.aclose()
            self._own_client = None
