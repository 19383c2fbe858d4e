"""``WriteThrough``: the database first, then the cache, never out of order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from types import UnionType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio

from .._checks import check_async, check_seconds
from .._keys import identifier
from .._scripts import LuaScript
from .._types import CacheOptions, Connection, Duration, Loader
from ..serializers import Serializer, resolve_serializer
from ._aside import CacheAside
from ._layout import ms

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("WriteThrough",)

T = TypeVar("T")

BEGIN = LuaScript("cache_write_begin")
END = LuaScript("cache_write_end")


class WriteThrough(CacheAside[T]):
    """A cache whose writes go to the database first: ``await wt.set(key, value)`` calls
    ``writer(key, value)``, then stores the value. Reads are ``CacheAside``'s.

    If the writer raises, the cache is left as it was and the error propagates. Two writes
    of one key that overlap in time cannot leave the cache holding the one that lost in the
    database: the cache cannot know the database's order, so an overlapping write deletes
    the entry instead of storing it, and the next read loads the winner. A load running
    while a write ends is refused its write too. Three EVALSHAs per ``set`` (begin, the
    writer, end), plus one for tags.

    ``deleter`` (optional, ``async (key) -> None``) makes ``delete`` remove the key from the
    database first; without it, ``delete`` evicts the cache entry only. ``write_timeout``
    bounds how long a writer may take before its write stops counting as in progress.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        loader: Loader,
        writer: Callable[[str, T], Awaitable[object]],
        deleter: Callable[[str], Awaitable[object]] | None = None,
        write_timeout: Duration = 60.0,
        model: type[T],
        **options: Unpack[CacheOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        loader: Loader,
        writer: Callable[[str, T], Awaitable[object]],
        deleter: Callable[[str], Awaitable[object]] | None = None,
        write_timeout: Duration = 60.0,
        serializer: Serializer[T],
        **options: Unpack[CacheOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: WriteThrough[Any],
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        loader: Loader,
        writer: Callable[[str, T], Awaitable[object]],
        deleter: Callable[[str], Awaitable[object]] | None = None,
        write_timeout: Duration = 60.0,
        model: UnionType | None = None,
        **options: Unpack[CacheOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        loader: Loader,
        writer: Callable[[str, T], Awaitable[object]],
        deleter: Callable[[str], Awaitable[object]] | None = None,
        write_timeout: Duration = 60.0,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        **options: Unpack[CacheOptions],
    ) -> None:
        check_async("loader", loader)
        check_async("writer", writer)
        check_async("deleter", deleter, optional=True)
        super().__init__(
            conn,
            namespace=namespace,
            ttl=ttl,
            serializer=resolve_serializer(model, serializer),
            loader=loader,
            **options,
        )
        self._writer = writer
        self._deleter = deleter
        self.write_timeout = check_seconds("write_timeout", write_timeout)

    async def set(
        self, key: str | int, value: T, *, ttl: Duration | None = None, tags: Iterable[str] = ()
    ) -> None:
        name = identifier(key)
        seconds = self._check_ttl(ttl)
        payload = self._entries.payload(value)  # a value that cannot be stored fails first
        self._forget(name)
        versions = await self._tags.read(tuple(tags))
        state = self._keys.write_state(name)
        seq, overlapped = await self._executor.run_script(BEGIN, [state], [ms(self.write_timeout)])
        written = "0"
        try:
            await self._writer(name, value)
            written = "1"
        except asyncio.CancelledError:
            written, overlapped = "1", 1  # it may have reached the database: evict, to be safe
            raise
        finally:
            entry, ttl_ms = self._entries.stored(payload, seconds, versions)
            args = [seq, overlapped, written, entry, ttl_ms, self._keys.filled(name)]
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.write_timeout):
                async with self._failing.skipping():
                    await self._executor.run_script(END, [*self._keys.load(name), state], args)
                self._forget(name)  # reads that overlapped the write

    async def delete(self, key: str | int) -> None:
        """With a ``deleter``: delete from the database, then evict; else evict only."""
        if self._deleter is not None:
            await self._deleter(identifier(key))
        await super().delete(key)
