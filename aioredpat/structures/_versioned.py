"""``VersionedStore``: values with a version, written by compare-and-set."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
from collections.abc import Awaitable, Callable
from types import UnionType
from typing import Any, Generic, TypeVar, overload

from .._checks import check_count
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace, identifier
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError, VersionConflict
from ..serializers import Serializer, resolve_serializer
from ._common import ttl_ms

__all__ = ("Versioned", "VersionedStore")

T = TypeVar("T")

PUT = LuaScript("versioned_put")
DELETE = LuaScript("versioned_delete")


@dataclasses.dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    value: T
    version: int


class VersionedStore(Generic[T]):
    """Values that carry a version (optimistic locking): versions start at 1 and go up by
    one per write. ``put(..., version=v)`` writes only if the stored version is still ``v``
    (``0``: only if absent), as one EVALSHA, else raises ``VersionConflict``; ``update``
    reads, applies your function and compare-and-sets, retrying on conflict with jittered
    backoff. Each value is one hash (its own slot on a cluster); ``ttl`` (optional) is
    refreshed by every write.
    """

    @overload
    def __init__(
        self, conn: Connection, *, namespace: str, model: type[T], ttl: Duration | None = None
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        serializer: Serializer[T],
        ttl: Duration | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: VersionedStore[Any],
        conn: Connection,
        *,
        namespace: str,
        model: UnionType | None = None,
        ttl: Duration | None = None,
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        ttl: Duration | None = None,
    ) -> None:
        self._keys = KeyBuilder(check_namespace(namespace))
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._ttl_ms = ttl_ms(ttl)
        self.conflicts = 0  # compare-and-sets refused, over this object's life

    def __repr__(self) -> str:
        return f"VersionedStore(namespace={self._keys.prefix[:-1]!r})"

    def _key(self, key: str | int) -> str:
        return self._keys.single("h", key)

    async def get(self, key: str | int) -> Versioned[T] | None:
        """The value and its version, ``None`` if absent: one HMGET."""
        version, data = await self._executor.read("HMGET", self._key(key), "v", "d")
        if version is None:
            return None
        return Versioned(self._serializer.loads(data), int(version))

    async def put(self, key: str | int, value: T, *, version: int | None = None) -> int:
        """Write ``value``; the new version. With ``version``, only if the stored one is
        still that (``0``: only if absent), else ``VersionConflict``."""
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 0
        ):
            raise ConfigurationError(f"version must be None or an int >= 0, got {version!r}")
        data = self._executor.sized(self._serializer.dumps(value))
        expected = "" if version is None else version
        written, now = await self._executor.run_script(
            PUT, [self._key(key)], [expected, data, self._ttl_ms]
        )
        if not written:
            self.conflicts += 1
            raise VersionConflict(identifier(key), expected=version or 0, actual=int(now))
        return int(now)

    async def update(
        self,
        key: str | int,
        fn: Callable[[T | None], T] | Callable[[T | None], Awaitable[T]],
        *,
        retries: int = 10,
    ) -> Versioned[T]:
        """Read, call ``fn(value)`` (``fn(None)`` when absent; sync or async), and
        compare-and-set the result; on conflict, read again and retry, up to ``retries``
        times, then raise the last ``VersionConflict``. Returns what it wrote."""
        check_count("retries", retries)
        for attempt in range(retries + 1):
            current = await self.get(key)
            result = fn(None if current is None else current.value)
            new = await result if inspect.isawaitable(result) else result
            try:
                version = await self.put(
                    key, new, version=0 if current is None else current.version
                )
            except VersionConflict:
                if attempt == retries:
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 8)))
                continue
            return Versioned(new, version)
        raise AssertionError("unreachable")

    async def delete(self, key: str | int, *, version: int | None = None) -> bool:
        """Delete; ``False`` if absent. With ``version``, only if the stored one is still
        that, else ``VersionConflict``."""
        expected = "" if version is None else version
        deleted, now = await self._executor.run_script(DELETE, [self._key(key)], [expected])
        if deleted:
            return True
        if int(now) == 0:
            return False
        self.conflicts += 1
        raise VersionConflict(identifier(key), expected=version or 0, actual=int(now))
