"""``CacheAside``: read through Redis, load on a miss once across processes.

A hit is one GET, batched with the other reads in flight (see the executor) and shared by
concurrent readers of the same key (``_sharing``). A miss loads under a lease, once across
processes (``_loading``); a hit may refresh ahead of expiry (``_refresh``). Tags
(``_tags``), failing open (``_failopen``), entries (``_entry``) and where it all lives in
Redis (``_layout``) are parts of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .._backoff import FAILURES
from .._checks import check_async, check_seconds
from .._executor import executor_for
from .._keys import identifier
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes, span, tracing
from .._types import CacheOptions, Connection, Duration, Loader
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer
from ._entry import Entries, Entry
from ._failopen import FailOpen
from ._flight import Flights
from ._layout import CacheKeys, now_ms
from ._loading import Loads
from ._near import NearCache, NearRead
from ._refresh import Refresher
from ._sharing import SharedReads
from ._tags import TagVersions, check_tags

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("CacheAside", "Loader")

T = TypeVar("T")

WRITE = LuaScript("cache_write")


class CacheAside(Generic[T]):
    """A cache in front of a slower source, typed by ``model``.

    ``get`` answers from Redis (one GET) or, on a miss, from ``loader`` (the constructor's or
    the call's), storing what it returns for ``ttl`` seconds. Concurrent misses of one key
    call the loader once in all: one caller per process asks Redis, and one process takes a
    ``lease_ttl``-second lease and loads while the others wait to be told the value, up to
    ``lease_ttl`` seconds, after which they load it themselves.

    - ``negative_ttl``: remember a loader's ``None`` that long (``get`` returns ``None``).
    - ``early_refresh=beta`` (XFetch): a hit may, with a probability that grows as expiry
      nears and with the load time, refresh the value in the background, one process at a
      time, while everyone keeps being served the current value. ``1.0`` is the usual beta.
    - ``stale_ttl``: stale-while-revalidate; an entry older than ``ttl`` is still served for
      ``stale_ttl`` more seconds while one background load refreshes it.
    - ``fail_open=True``: while Redis is unreachable, reads come from the loader and cache
      writes are skipped, with a warning; ``delete`` and ``invalidate_tags`` still raise, as
      skipping them would leave stale values to be served once Redis is back.
    - ``max_ttl`` (default: a day, or ``ttl + stale_ttl`` if longer) caps per-call ttls; tag
      versions live that long after their last use.
    - ``near_cache=NearCache(...)``: fresh hits answered from process memory, kept correct
      by Redis' invalidation messages (see ``NearCache``).
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        model: type[T],
        loader: Loader | None = None,
        **options: Unpack[CacheOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        serializer: Serializer[T],
        loader: Loader | None = None,
        **options: Unpack[CacheOptions],
    ) -> None: ...
    @overload
    def __init__(
        self: CacheAside[Any],
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        model: UnionType | None = None,
        loader: Loader | None = None,
        **options: Unpack[CacheOptions],
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        ttl: Duration,
        model: Any = None,
        serializer: Serializer[T] | None = None,
        loader: Loader | None = None,
        negative_ttl: Duration | None = None,
        early_refresh: float | None = None,
        stale_ttl: Duration | None = None,
        lease_ttl: Duration = 10.0,
        max_ttl: Duration | None = None,
        fail_open: bool = False,
        near_cache: NearCache | None = None,
    ) -> None:
        self.ttl = check_seconds("ttl", ttl)
        self.negative_ttl = (
            None if negative_ttl is None else check_seconds("negative_ttl", negative_ttl)
        )
        self.stale_ttl = None if stale_ttl is None else check_seconds("stale_ttl", stale_ttl)
        self.lease_ttl = check_seconds("lease_ttl", lease_ttl)
        if early_refresh is not None and (
            isinstance(early_refresh, bool)
            or not isinstance(early_refresh, int | float)
            or not 0 < early_refresh <= 100
        ):
            raise ConfigurationError(
                f"early_refresh must be a beta in (0, 100], got {early_refresh!r}"
            )
        self.early_refresh = None if early_refresh is None else float(early_refresh)
        longest = self.ttl + (self.stale_ttl or 0.0)
        self.max_ttl = (
            max(86400.0, longest) if max_ttl is None else check_seconds("max_ttl", max_ttl)
        )
        if self.max_ttl < longest:
            raise ConfigurationError(f"max_ttl={max_ttl!r} is shorter than ttl + stale_ttl")
        check_async("loader", loader, optional=True)
        self.fail_open = bool(fail_open)
        self._loader = loader
        self._keys = CacheKeys(namespace)
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        # the parts, each with one job
        self._entries = Entries(self, self._serializer, self._executor, self)
        self._failing = FailOpen(
            self, enabled=self.fail_open, call_timeout=self._executor.call_timeout
        )
        self._tags = TagVersions(self._executor, self._keys, self.max_ttl)
        self._shared = SharedReads(self._executor)
        self._flights = Flights()
        self._loads = Loads(
            executor=self._executor,
            keys=self._keys,
            entries=self._entries,
            tags=self._tags,
            timings=self,
            fail_open=self._failing,
        )
        self._refresher = Refresher(self, self._loads, self)
        if near_cache is not None and not isinstance(near_cache, NearCache):
            raise ConfigurationError(f"near_cache must be a NearCache, got {near_cache!r}")
        self._near = near_cache
        namespace = self._keys.namespace
        self._span_attrs = attributes(namespace=namespace)
        self._results = {
            result: attributes(namespace=namespace, result=result)
            for result in ("hit", "miss", "stale", "error")
        }
        if near_cache is not None:
            near_cache.bind(self, self._executor, self._keys.namespace + ":", self._keys.tag_prefix)

    @property
    def near_cache(self) -> NearCache | None:
        """The ``NearCache`` answering hits from memory (its counters tell how it does)."""
        return self._near

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self._keys.namespace!r}, ttl={self.ttl})"

    # -- reading ------------------------------------------------------------------------

    async def get(
        self, key: str | int, *, loader: Loader | None = None, tags: Iterable[str] = ()
    ) -> T | None:
        """The cached value of ``key``; on a miss, the loader's (stored, and tagged with
        ``tags``). ``None`` when there is no loader or it found nothing."""
        if tracing():
            with span("aioredpat.cache.get", self._span_attrs):
                return await self._get(key, loader, tags)
        return await self._get(key, loader, tags)

    def _count(self, result: str) -> None:
        if INSTRUMENTS is not None:
            INSTRUMENTS.cache_requests.add(1, self._results[result])

    async def _get(self, key: str | int, loader: Loader | None, tags: Iterable[str]) -> T | None:
        name = identifier(key)
        if loader is None:
            loader = self._loader
        else:
            check_async("loader", loader)
        entry_key = self._keys.entry(name)
        near = self._near
        read: NearRead | None = None
        if near is not None:
            copy = near.lookup(entry_key)
            if copy is not None:
                self._count("hit")
                if loader is not None:
                    self._refresher.after_hit(name, copy.entry, loader, tuple(tags))
                return copy.value  # type: ignore[no-any-return]
            read = near.begin(entry_key)
        breaker = self._failing.breaker
        try:
            if breaker is None:
                data = await self._shared.get(entry_key)
            else:
                async with breaker.guard():
                    data = await self._shared.get(entry_key)
            if data is not None:
                decoded = self._entries.decode(name, data)
                current = decoded is not None and await self._current(decoded[0])
        except FAILURES as error:
            self._count("error")
            found: T | None = await self._read_open(name, loader, error)
            return found
        finally:
            if read is not None:
                near.end(read)  # type: ignore[union-attr]
        self._failing.recovered()
        force = False
        if data is not None:
            if decoded is not None and current:
                entry, value = decoded
                if read is not None:
                    near.remember(read, entry, value, self._tag_keys(entry))  # type: ignore[union-attr]
                self._count("stale" if entry.fresh_until_ms <= now_ms() else "hit")
                if loader is not None:
                    self._refresher.after_hit(name, entry, loader, tuple(tags))
                return value
            force = True  # corrupt, or invalidated by a tag: replace it
        self._count("miss")
        if loader is None:
            return None
        return await self._flights.run(name, self._loads.load(name, loader, tuple(tags), force))  # type: ignore[no-any-return]

    async def _current(self, entry: Entry) -> bool:
        return not entry.tags or (await self._tags.current([entry.tags]))[0]

    def _tag_keys(self, entry: Entry) -> tuple[str, ...]:
        return tuple(self._keys.tag(tag) for tag, _ in entry.tags)

    def _forget(self, name: str | None = None) -> None:
        """This process is about to change (or has changed) ``name``, or every key: reads
        from now on must not be answered with what was there before."""
        key = None if name is None else self._keys.entry(name)
        self._shared.forget(key)
        if self._near is not None:
            self._near.forget(key)

    async def get_many(self, keys: Iterable[str | int]) -> dict[str, T]:
        """The cached values of ``keys`` (one MGET; on a cluster one per slot, sent
        together); with a loader, misses are loaded as ``get`` does. Keys with no value
        are left out."""
        names = list(dict.fromkeys(identifier(key) for key in keys))
        if not names:
            return {}
        entry_keys = [self._keys.entry(name) for name in names]
        breaker = self._failing.breaker
        try:
            if breaker is None:
                found = await self._executor.mget(entry_keys)
            else:
                async with breaker.guard():
                    found = await self._executor.mget(entry_keys)
        except FAILURES as error:
            for _ in names:
                self._count("error")
            loader = self._loader
            loaded = [self._read_open(name, loader, error) for name in names]
            return _present(names, await asyncio.gather(*loaded))
        values: dict[str, Any] = {}
        tagged: dict[str, tuple[Entry, Any]] = {}
        stored = set()  # names with an entry, even one that turns out unusable
        for name, data in zip(names, found, strict=True):
            if data is None:
                continue
            stored.add(name)
            decoded = self._entries.decode(name, data)
            if decoded is None:
                continue
            if decoded[0].tags:
                tagged[name] = decoded
            else:
                values[name] = decoded[1]
        if tagged:
            current = await self._tags.current([entry.tags for entry, _ in tagged.values()])
            for (name, (_, value)), ok in zip(tagged.items(), current, strict=True):
                if ok:
                    values[name] = value
        if INSTRUMENTS is not None:
            for name in names:
                self._count("hit" if name in values else "miss")
        if self._loader is not None:
            missing = [name for name in names if name not in values]
            loads = [
                self._flights.run(name, self._loads.load(name, self._loader, (), name in stored))
                for name in missing
            ]
            values.update(zip(missing, await asyncio.gather(*loads), strict=True))
        return _present(names, [values.get(name) for name in names])

    async def _read_open(self, name: str, loader: Loader | None, error: Exception) -> Any:
        """A read Redis failed: its error, or, failing open, the loader's value."""
        self._failing.absorb(error)
        if loader is None:
            return None
        return await self._flights.run(name, self._loads.call_loader(loader, name))

    # -- writing --------------------------------------------------------------------------

    async def set(
        self, key: str | int, value: T, *, ttl: Duration | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store ``value`` for ``ttl`` seconds (default: the cache's), tagged with ``tags``.

        A load of ``key`` in progress anywhere is refused its write, so it cannot put back
        an older value. One EVALSHA; with tags, one more before it to read their versions.
        """
        name = identifier(key)
        seconds = self._check_ttl(ttl)
        payload = self._entries.payload(value)
        self._forget(name)
        async with self._failing.skipping():
            entry, ttl_ms = self._entries.stored(
                payload, seconds, await self._tags.read(tuple(tags))
            )
            await self._write(name, entry, ttl_ms)

    async def delete(self, key: str | int) -> None:
        """Remove ``key``; a load in progress is refused its write. One EVALSHA."""
        name = identifier(key)
        self._forget(name)
        await self._write(name, b"", 0)

    async def _write(self, name: str, entry: bytes, ttl_ms: int) -> None:
        """Store ``entry`` (or delete, with ``b""``), refusing any load in progress its fill."""
        try:
            await self._executor.run_script(
                WRITE, self._keys.load(name), [entry, ttl_ms, self._keys.filled(name)]
            )
        finally:
            if self._near is not None:
                self._near.forget(self._keys.entry(name))  # reads that overlapped the write

    async def invalidate_tags(self, *tags: str) -> None:
        """Every entry stored with one of ``tags`` misses from now on: each tag gets a new
        version (one SET per tag, one round trip), whatever the number of entries."""
        names = check_tags(tags)
        if names:
            self._forget()  # a read from now on sends its own GET
            try:
                await self._tags.invalidate(names)
            finally:
                if self._near is not None:
                    self._near.forget()

    def _check_ttl(self, ttl: Duration | None) -> float:
        if ttl is None:
            return self.ttl
        seconds = check_seconds("ttl", ttl)
        if seconds + (self.stale_ttl or 0.0) > self.max_ttl:
            raise ConfigurationError(f"ttl={ttl!r} (plus stale_ttl) exceeds max_ttl={self.max_ttl}")
        return seconds


def _present(names: list[str], values: Sequence[Any]) -> dict[str, Any]:
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}
