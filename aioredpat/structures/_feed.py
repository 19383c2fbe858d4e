"""``ActivityFeed``: capped lists of typed items, newest first."""

from __future__ import annotations

import logging
from types import UnionType
from typing import Any, Generic, TypeVar, overload

from .._checks import check_count
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer
from ._common import ttl_ms

__all__ = ("ActivityFeed",)

log = logging.getLogger("aioredpat")

T = TypeVar("T")

PUSH = LuaScript("feed_push")
CHUNK = 4000  # items per script call: Lua's unpack() takes at most about 8000


class ActivityFeed(Generic[T]):
    """One list per key (a user's notifications, an account's events), newest first,
    never longer than ``maxlen``: a push and its trim are one atomic step, one round trip.
    Items are typed by ``model``; one that no longer decodes (a changed model) is left
    out of pages, with a warning. ``ttl`` (optional) is refreshed by every push.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        maxlen: int,
        ttl: Duration | None = None,
        model: type[T],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        maxlen: int,
        ttl: Duration | None = None,
        serializer: Serializer[T],
    ) -> None: ...
    @overload
    def __init__(
        self: ActivityFeed[Any],
        conn: Connection,
        *,
        namespace: str,
        maxlen: int,
        ttl: Duration | None = None,
        model: UnionType | None = None,
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        maxlen: int,
        ttl: Duration | None = None,
        model: Any = None,
        serializer: Serializer[T] | None = None,
    ) -> None:
        self.maxlen = check_count("maxlen", maxlen)
        self._ttl_ms = ttl_ms(ttl)
        self._keys = KeyBuilder(check_namespace(namespace))
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)

    def __repr__(self) -> str:
        return f"ActivityFeed(namespace={self._keys.prefix[:-1]!r}, maxlen={self.maxlen})"

    def _key(self, key: str | int) -> str:
        return self._keys.single("l", key)

    async def push(self, key: str | int, *items: T) -> int:
        """Add ``items`` (the last is the newest) and trim to ``maxlen``; the feed's length.
        Every item is validated first: one that is not a valid ``model`` raises
        ``SerializationError`` and nothing is pushed."""
        encoded = [self._executor.sized(self._serializer.dumps(item)) for item in items]
        name = self._key(key)
        if not encoded:
            return int(await self._executor.read("LLEN", name))
        encoded = encoded[-self.maxlen :]  # the older ones would be trimmed at once
        head = [self.maxlen, self._ttl_ms]
        if len(encoded) <= CHUNK:
            return int(await self._executor.run_script(PUSH, [name], [*head, *encoded]))
        batch = self._executor.batch()
        for start in range(0, len(encoded), CHUNK):
            batch.script(PUSH, [name], [*head, *encoded[start : start + CHUNK]])
        return int((await batch.execute())[-1])

    async def page(self, key: str | int, *, offset: int = 0, limit: int = 20) -> list[T]:
        """Up to ``limit`` items from position ``offset``, newest first: one LRANGE."""
        check_count("limit", limit)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigurationError(f"offset must be an int >= 0, got {offset!r}")
        found = await self._executor.read("LRANGE", self._key(key), offset, offset + limit - 1)
        items: list[T] = []
        for data in found:
            try:
                items.append(self._serializer.loads(data))
            except Exception as error:
                log.warning("%r: an item of %r cannot be decoded (%r); left out", self, key, error)
        return items

    async def clear(self, key: str | int) -> None:
        await self._executor.execute("DEL", self._key(key))
