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
reader reconnects with capped backoff and subscribes again what is still listened to (see
``Subscriber``, the connection core this shares with ``PubSub``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis, RedisCluster

from ._pools import deadline_after
from ._subscriber import Subscriber, subscriber_for_cluster

__all__ = ("Notifier", "Wakeup", "subscriber_for_cluster")

log = logging.getLogger("aioredpat")

IDLE_UNSUBSCRIBE = 1.0  # seconds a channel stays subscribed with no listener


class Wakeup:
    """One listener: ``event`` is set when woken; ``payload`` holds a message meant for it
    (as text) and ``data`` the last message that woke it, as the bytes published."""

    __slots__ = ("data", "event", "payload", "token")

    def __init__(self, token: str | None) -> None:
        self.event = asyncio.Event()
        self.payload: str | None = None
        self.data: bytes | None = None
        self.token = token


class Notifier(Subscriber):
    def __init__(self, client: Redis | RedisCluster) -> None:
        super().__init__(client)
        self._listeners: dict[str, set[Wakeup]] = {}
        self._subscribed: set[str] = set()
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._idle_since: dict[str, float] = {}

    def __repr__(self) -> str:
        return "Notifier()"

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
                await self._send("subscribe", channel)
            except Exception as error:
                self._confirmations.pop(channel, None)
                log.warning(
                    "cannot subscribe to %r (%r); waiters fall back to expiry",
                    channel,
                    error,
                )
                self._ensure_reader()  # it reconnects and subscribes what is listened to
                return
        with contextlib.suppress(TimeoutError):
            # shielded: a cancelled listener must not cancel the future other listeners share
            async with deadline_after(5.0):
                await asyncio.shield(confirmation)

    def _wanted(self) -> tuple[list[str], list[str]]:
        return list(self._listeners) or list(self._subscribed | set(self._confirmations)), []

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

    async def _after_read(self) -> None:
        """Unsubscribe channels that have had no listener for ``IDLE_UNSUBSCRIBE``."""
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
            await self._send("unsubscribe", *idle)

    def _lost(self) -> None:
        self._subscribed.clear()
        for confirmation in self._confirmations.values():
            if not confirmation.done():
                confirmation.set_result(None)  # listeners go on; they re-check at expiry
        self._confirmations.clear()
        self._wake_all()  # whatever was missed, check again now

    def _restored(self) -> None:
        self._wake_all()

    def _wake_all(self) -> None:
        for listeners in self._listeners.values():
            for wakeup in listeners:
                wakeup.event.set()
