"""One shared pub/sub connection per client, for waiters that want to be woken.

Patterns that wait for something another process does (a lock released, a value stored)
listen on a channel instead of polling::

    async with notifier.listen(channel) as woken:
        while not await try_again():
            await wait_or_timeout(woken, ttl)   # ``woken`` is set when a message arrives

A listener may give a ``token``: it is then woken only by messages whose first word is
that token (their text is kept in ``wakeup.payload``) or that are empty (a broadcast), so a
publisher can wake, and tell something to, one waiter among many.
``listen`` returns once the channel is subscribed, so a message published after that is
never missed. All channels share one connection and one reader task per client; a channel
is unsubscribed once it has had no listener for a second, and the reader ends when nothing
is subscribed. When the connection fails, every listener is woken (to check again) and the
reader reconnects with capped backoff and subscribes again what is still listened to.

On a cluster the subscriber connects to one primary: classic PUBLISH reaches every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis, RedisCluster

from ._pools import deadline_after

__all__ = ("Notifier", "Wakeup", "subscriber_for_cluster")

log = logging.getLogger("aioredpat")

IDLE_UNSUBSCRIBE = 1.0  # seconds a channel stays subscribed with no listener


def subscriber_for_cluster(cluster: RedisCluster) -> Redis:
    """A plain client on one of the cluster's primaries, for subscribing: classic PUBLISH
    reaches every node, so one connection hears every channel. Its reads never time out
    (a subscriber waits for messages); the caller closes it."""
    node = cluster.get_primaries()[0]
    accepted = inspect.signature(Redis.__init__).parameters
    options = {k: v for k, v in node.connection_kwargs.items() if k in accepted}
    return Redis(**{**options, "socket_timeout": None})


class Wakeup:
    """One listener: ``event`` is set when woken; ``payload`` holds a message meant for it
    (as text) and ``data`` the last message that woke it, as the bytes published."""

    __slots__ = ("data", "event", "payload", "token")

    def __init__(self, token: str | None) -> None:
        self.event = asyncio.Event()
        self.payload: str | None = None
        self.data: bytes | None = None
        self.token = token


class Notifier:
    def __init__(self, client: Redis | RedisCluster) -> None:
        self._client = client
        self._listeners: dict[str, set[Wakeup]] = {}
        self._subscribed: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._idle_since: dict[str, float] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._own_client: Redis | None = None
        # redis-py's PubSub takes its connection on first use without a lock: concurrent
        # (un)subscribes could each take one, and all but the last would go unheard
        self._commands = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def listen(self, channel: str, token: str | None = None) -> AsyncIterator[Wakeup]:
        """Subscribe (if needed) and yield a ``Wakeup`` set when ``channel`` gets a message
        (with ``token``: a message for that token, or an empty one)."""
        wakeup = Wakeup(token)
        self._listeners.setdefault(channel, set()).add(wakeup)
        self._idle_since.pop(channel, None)
        try:
            await self._subscribe(channel)
            yield wakeup
        finally:
            listeners = self._listeners.get(channel)
            if listeners is not None:
                listeners.discard(wakeup)
                if not listeners:
                    del self._listeners[channel]
                    self._idle_since[channel] = asyncio.get_running_loop().time()

    async def _subscribe(self, channel: str) -> None:
        if channel in self._subscribed:
            return
        confirmation = self._confirmations.get(channel)
        if confirmation is None:
            confirmation = asyncio.get_running_loop().create_future()
            self._confirmations[channel] = confirmation
            try:
                async with self._commands:
                    if self._pubsub is None:
                        self._pubsub = self._subscriber_client().pubsub()
                    await self._pubsub.subscribe(channel)
                self._ensure_reader()  # after SUBSCRIBE: the pubsub has its connection now
            except Exception as error:
                self._confirmations.pop(channel, None)
                log.warning(
                    "aioredpat: cannot subscribe to %r (%r); waiters fall back to expiry",
                    channel,
                    error,
                )
                return
        with contextlib.suppress(TimeoutError):
            # shielded: a cancelled listener must not cancel the future other listeners share
            async with deadline_after(5.0):
                await asyncio.shield(confirmation)

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            # owned here: stopped by aclose(); its failures are handled inside, never lost
            self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    def _subscriber_client(self) -> Redis:
        if isinstance(self._client, RedisCluster):
            if self._own_client is None:
                self._own_client = subscriber_for_cluster(self._client)
            return self._own_client
        return self._client

    async def _read_forever(self) -> None:
        backoff = 0.05
        while self._subscribed or self._confirmations or self._listeners:
            try:
                message = await self._pubsub.get_message(timeout=IDLE_UNSUBSCRIBE)
                backoff = 0.05
                if message is not None:
                    self._dispatch(message)
                await self._drop_idle_channels()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("aioredpat: notification connection failed (%r); reconnecting", error)
                await self._reset_after_failure()
                await asyncio.sleep(backoff * (1 + random.random()))
                backoff = min(backoff * 2, 2.0)
                await self._resubscribe()
        # nothing is listened to: hand over before awaiting, so a new listener starts afresh
        if self._reader is asyncio.current_task():
            self._reader = None
        await self._close_pubsub()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if kind == "message":
            data = message["data"]
            data = data if isinstance(data, bytes) else str(data).encode()
            payload = data.decode(errors="replace")
            addressee = payload.split(" ", 1)[0]
            for wakeup in self._listeners.get(channel, ()):
                if wakeup.token is not None and addressee == wakeup.token:
                    wakeup.payload = payload
                    wakeup.data = data
                    wakeup.event.set()
                elif not payload or wakeup.token is None:
                    wakeup.data = data
                    wakeup.event.set()
        elif kind == "subscribe":
            self._subscribed.add(channel)
            confirmation = self._confirmations.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(None)

    async def _drop_idle_channels(self) -> None:
        now = asyncio.get_running_loop().time()
        idle = [
            channel
            for channel, since in self._idle_since.items()
            if now - since >= IDLE_UNSUBSCRIBE and channel not in self._listeners
        ]
        for channel in idle:
            del self._idle_since[channel]
        idle = [channel for channel in idle if channel in self._subscribed]
        if idle:
            self._subscribed.difference_update(idle)
            async with self._commands:
                await self._pubsub.unsubscribe(*idle)

    async def _reset_after_failure(self) -> None:
        self._subscribed.clear()
        for confirmation in self._confirmations.values():
            if not confirmation.done():
                confirmation.set_result(None)  # listeners go on; they re-check at expiry
        self._confirmations.clear()
        for listeners in self._listeners.values():
            for wakeup in listeners:
                wakeup.event.set()  # whatever was missed, check again now
        await self._close_pubsub()

    async def _resubscribe(self) -> None:
        channels = list(self._listeners)
        if not channels:
            return
        loop = asyncio.get_running_loop()
        for channel in channels:
            self._confirmations[channel] = loop.create_future()
        try:
            async with self._commands:
                self._pubsub = self._subscriber_client().pubsub()
                await self._pubsub.subscribe(*channels)
        except Exception as error:
            log.warning("aioredpat: resubscribing failed (%r); retrying", error)
            await self._reset_after_failure()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def aclose(self) -> None:
        """Stop the reader and close the subscriber connection."""
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await self._close_pubsub()
        if self._own_client is not None:
            await self._own_client.aclose()
            self._own_client = None
