"""``PubSub``: typed publish/subscribe on one supervised connection.

Redis pub/sub delivers at most once: a subscriber that is disconnected misses what was
published meanwhile, and nothing tells it. ``PubSub`` reconnects by itself (capped
backoff), subscribes again to everything still listened to, and reports the gap: each
``Subscription`` counts its gaps, and ``on_gap`` is called with a ``PubSubGap``. Use a
stream (``StreamConsumer``) when every message matters.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from redis.asyncio import RedisCluster

from .._backoff import FAILURES
from .._checks import check_count, check_name
from .._executor import as_text, executor_for
from .._pools import deadline_after
from .._subscriber import Subscriber
from .._types import Connection, PubSubOptions
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("PubSub", "PubSubGap", "PubSubMessage", "Subscription")

log = logging.getLogger("aioredpat")

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class PubSubMessage(Generic[T]):
    """A message received: its ``channel``, the decoded ``data``, and the ``pattern`` it
    matched (``None`` for a plain subscription)."""

    channel: str
    data: T
    pattern: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PubSubGap:
    """Messages may have been missed on ``channels``: the connection was lost and made
    again (``reason="reconnect"``), or a subscriber fell behind and its oldest buffered
    messages were dropped (``reason="overflow"``, ``dropped`` of them)."""

    reason: Literal["reconnect", "overflow"]
    channels: tuple[str, ...]
    dropped: int = 0


class Subscription(Generic[T]):
    """The messages of some channels (or patterns), as an async iterator.

    Received messages wait in a buffer of ``buffer`` messages; when it is full, the oldest
    is dropped to make room (a slow subscriber sees the latest messages, never blocks the
    connection others share), counted in ``dropped`` and reported as a gap.
    """

    def __init__(self, names: tuple[str, ...], *, patterns: bool, buffer: int) -> None:
        self.names = names
        self.patterns = patterns
        self.gaps = 0  # times messages may have been missed (reconnects, overflows)
        self.dropped = 0  # messages dropped because the buffer was full
        self._buffer: collections.deque[PubSubMessage[T]] = collections.deque()
        self._size = buffer
        self._ready = asyncio.Event()
        self._closed = False

    def __repr__(self) -> str:
        kind = "patterns" if self.patterns else "channels"
        return f"Subscription({kind}={list(self.names)})"

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> PubSubMessage[T]:
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._buffer.popleft()

    def _put(self, message: PubSubMessage[T]) -> bool:
        """Buffer ``message``; False when the oldest had to be dropped for it."""
        kept = len(self._buffer) < self._size
        if not kept:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(message)
        self._ready.set()
        return kept

    def _close(self) -> None:
        self._closed = True
        self._ready.set()


class PubSub(Subscriber, Generic[T]):
    """Publishes values to channels and subscribes to them, typed by ``model``.

    Every subscription of one ``PubSub`` shares one connection (on a cluster, to one
    primary: classic PUBLISH reaches every node); a reader task runs while anything is
    subscribed. ``buffer`` bounds each subscription's queue of unread messages; ``on_gap``
    is called (from the reader task; keep it quick) each time messages may have been lost.
    ``await pubsub.aclose()`` (or leaving ``async with pubsub:``) ends every subscription.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        model: type[T],
        **options: Unpack[PubSubOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        serializer: Serializer[T],
        **options: Unpack[PubSubOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: PubSub[Any],
        conn: Connection,
        *,
        model: UnionType | None = None,
        **options: Unpack[PubSubOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        buffer: int = 1000,
        on_gap: Callable[[PubSubGap], object] | None = None,
    ) -> None:
        if on_gap is not None and not callable(on_gap):
            raise ConfigurationError(f"on_gap must be callable, got {on_gap!r}")
        self._executor = executor_for(conn)
        super().__init__(self._executor.client)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._buffer = check_count("buffer", buffer)
        self._on_gap = on_gap
        self._subs: dict[tuple[bool, str], set[Subscription[T]]] = {}
        self._confirmations: dict[tuple[bool, str], asyncio.Future[None]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"PubSub(channels={[name for _, name in self._subs]})"

    async def __aenter__(self) -> PubSub[T]:
        if self._closed:
            raise RuntimeError(f"{self!r} was closed: make a new one to use it again")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def publish(self, channel: str, value: T) -> int:
        """PUBLISH ``value``; returns how many subscribers the server delivered it to (on a
        cluster: the subscribers of the node that took the command).

        On a cluster redis-py sends a keyless command to any node, and messages published
        through different nodes reach a subscriber in no set order; so every publish goes to
        the first primary, the node subscriptions use too, and one publisher's messages
        arrive in the order they were sent, as on a single server.
        """
        data = self._executor.sized(self._serializer.dumps(value))
        channel = check_name("channel", channel)
        client = self._executor.client
        if isinstance(client, RedisCluster):
            node = client.get_primaries()[0]
            return int(await self._executor.execute("PUBLISH", channel, data, target_nodes=node))
        return int(await self._executor.execute("PUBLISH", channel, data))

    def subscribe(self, *channels: str) -> contextlib.AbstractAsyncContextManager[Subscription[T]]:
        """``async with pubsub.subscribe("a", "b") as messages: async for m in messages:``;
        subscribed once the block is entered, unsubscribed when it is left."""
        return self._subscription(channels, patterns=False)

    def psubscribe(self, *patterns: str) -> contextlib.AbstractAsyncContextManager[Subscription[T]]:
        """As ``subscribe``, for glob-style patterns (``"orders.*"``)."""
        return self._subscription(patterns, patterns=True)

    @contextlib.asynccontextmanager
    async def _subscription(
        self, names: tuple[str, ...], *, patterns: bool
    ) -> AsyncIterator[Subscription[T]]:
        if self._closed:
            raise RuntimeError(f"{self!r} was closed: make a new one to subscribe again")
        if not names:
            raise ConfigurationError("subscribe to at least one channel")
        for name in names:
            check_name("pattern" if patterns else "channel", name)
        subscription: Subscription[T] = Subscription(names, patterns=patterns, buffer=self._buffer)
        new = [name for name in names if (patterns, name) not in self._subs]
        for name in names:
            self._subs.setdefault((patterns, name), set()).add(subscription)
        try:
            if new:
                await self._send_subscribe(new, patterns=patterns)
            yield subscription
        finally:
            subscription._close()
            gone = []
            for name in names:
                subs = self._subs.get((patterns, name))
                if subs is not None:
                    subs.discard(subscription)
                    if not subs:
                        del self._subs[(patterns, name)]
                        gone.append(name)
            if gone:
                await self._send_unsubscribe(gone, patterns=patterns)

    async def _send_subscribe(self, names: list[str], *, patterns: bool) -> None:
        loop = asyncio.get_running_loop()
        waits = []
        for name in names:
            future = self._confirmations.get((patterns, name))
            if future is None:
                future = self._confirmations[(patterns, name)] = loop.create_future()
            waits.append(future)
        try:
            await self._send("psubscribe" if patterns else "subscribe", *names)
        except FAILURES as error:
            # Redis is down: the block starts anyway, and the reader keeps trying to
            # subscribe (the wait until it does is reported as a gap, as a reconnect is)
            log.warning("subscribing to %s failed (%r); retrying in the background", names, error)
            self._ensure_reader()
            return
        async with deadline_after(10.0):  # the reader confirms, or reconnects and retries
            await asyncio.shield(asyncio.gather(*waits))

    async def _send_unsubscribe(self, names: list[str], *, patterns: bool) -> None:
        if self._pubsub is None:
            return
        try:
            await self._send("punsubscribe" if patterns else "unsubscribe", *names)
        except Exception as error:  # the connection is down: the reader resubscribes what is left
            log.debug("unsubscribing failed (%r)", error)

    def _wanted(self) -> tuple[list[str], list[str]]:
        channels = [name for patterns, name in self._subs if not patterns]
        return channels, [name for patterns, name in self._subs if patterns]

    def _restored(self) -> None:
        subscriptions = {sub for subs in self._subs.values() for sub in subs}
        for subscription in subscriptions:
            subscription.gaps += 1
        self._report(PubSubGap("reconnect", tuple(name for _, name in self._subs)))

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("subscribe", "psubscribe"):
            key = (kind == "psubscribe", as_text(message["channel"]))
            future = self._confirmations.pop(key, None)
            if future is not None and not future.done():
                future.set_result(None)
            return
        if kind not in ("message", "pmessage"):
            return
        channel = as_text(message["channel"])
        pattern = as_text(message["pattern"]) if kind == "pmessage" else None
        subs = self._subs.get((pattern is not None, pattern or channel))
        if not subs:
            return
        try:
            value = self._serializer.loads(message["data"])
        except Exception as error:
            log.warning("undecodable message on %r skipped: %r", channel, error)
            return
        received = PubSubMessage(channel, value, pattern)
        for subscription in subs:
            if not subscription._put(received):
                subscription.gaps += 1
                self._report(PubSubGap("overflow", subscription.names, subscription.dropped))

    def _report(self, gap: PubSubGap) -> None:
        if self._on_gap is None:
            return
        try:
            self._on_gap(gap)
        except Exception:
            log.exception("on_gap raised")

    async def aclose(self) -> None:
        """End every subscription and close the connection."""
        self._closed = True
        for subs in list(self._subs.values()):
            for subscription in subs:
                subscription._close()
        self._subs.clear()
        await super().aclose()
