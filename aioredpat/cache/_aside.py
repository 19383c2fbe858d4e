"""``CacheAside``: read through Redis, load on a miss once across processes.

Keys of one cache key ``k`` (all in one slot, ``<ns>:{k}:...``): ``v`` the entry, ``lease``
the loading lease, ``w`` the flag that someone waits for a load; the channel ``filled``
tells waiters the outcome. Tag versions live under ``<ns>:{~tags}:<tag>``, one slot for
the whole namespace, so a tagged read checks all its tags with one MGET.

A hit is one GET. A miss runs ``cache_lease.lua``: the caller that takes the lease calls
the loader and stores the value with ``cache_fill.lua`` (only while its lease stands, so a
``set`` or ``delete`` made meanwhile wins); the others subscribe to ``filled`` and receive
the stored entry in the notification itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Iterable, Sequence
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import anyio

from .._backoff import FAILURES
from .._breaker import Breaker
from .._checks import check_async, check_seconds
from .._executor import as_text, executor_for
from .._keys import KeyBuilder, escape, identifier
from .._scripts import LuaScript
from .._types import CacheOptions, Connection, Duration, Loader
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer, typed
from ._entry import Entry, decode_entry, encode_entry

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ("CacheAside", "Loader")

log = logging.getLogger("aioredpat")

T = TypeVar("T")

LEASE = LuaScript("cache_lease")
FILL = LuaScript("cache_fill")
WRITE = LuaScript("cache_write")
TAGS = LuaScript("cache_tags")


_NONE = b"none"  # told to waiters: the loader found nothing, and nothing was stored
_MISS: Any = object()


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled. Python 3.10 cannot tell: there
    the answer is no, so a reader whose shared GET was cancelled reads for itself."""
    task = asyncio.current_task()
    return task is None or (sys.version_info >= (3, 11) and task.cancelling() > 0)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


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
        self._keys = KeyBuilder(namespace)
        self._tag_prefix = self._keys.shared("tags") + ":"
        self._executor = executor_for(conn)
        # fail-open reads give up after the socket timeout, and skip Redis while it is down
        timeout = self._executor.call_timeout
        self._breaker = (
            Breaker(None if timeout is None else timeout / 2) if self.fail_open else None
        )
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._flights: dict[str, asyncio.Task[Any]] = {}
        self._reads: dict[str, list[asyncio.Future[bytes | None] | None]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._warned: set[str] = set()
        self._outage = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(namespace={self._keys.prefix[:-1]!r}, ttl={self.ttl})"

    # -- reading ------------------------------------------------------------------------

    async def get(
        self, key: str | int, *, loader: Loader | None = None, tags: Iterable[str] = ()
    ) -> T | None:
        """The cached value of ``key``; on a miss, the loader's (stored, and tagged with
        ``tags``). ``None`` when there is no loader or it found nothing."""
        name = identifier(key)
        if loader is None:
            loader = self._loader
        else:
            check_async("loader", loader)
        try:
            if self._breaker is None:
                data = await self._get_shared(name)
            else:
                async with self._breaker.guard():
                    data = await self._get_shared(name)
        except FAILURES as error:
            found: T | None = await self._read_open(name, loader, error)
            return found
        self._outage = False
        force = False
        if data is not None:
            entry, value = self._read(name, data)
            if entry is not None and (not entry.tags or await self._tags_current(entry.tags)):
                if loader is not None:
                    self._maybe_refresh(name, entry, loader, tuple(tags))
                return value
            force = True  # corrupt, or invalidated by a tag: replace it
        if loader is None:
            return None
        loaded: T | None = await self._flight(name, self._load(name, loader, tuple(tags), force))
        return loaded

    async def _get_shared(self, name: str) -> bytes | None:
        """GET the entry; calls for the same key while that GET is on the wire share it.

        A hot key read by many tasks at once costs one GET per round trip instead of one
        per task. A write through this object (``set``, ``delete``, ``invalidate_tags``)
        ends the sharing, so a read that starts after it never gets an older reply. The
        first reader only leaves a slot; a future is made when a second one arrives.
        """
        slot = self._reads.get(name)
        if slot is not None:
            shared = slot[0]
            if shared is None:
                shared = slot[0] = asyncio.get_running_loop().create_future()
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                if not shared.cancelled() or _cancelling():
                    raise
                # the task that sent the GET was cancelled, not this one: read for ourselves
                return await self._executor.get(self._entry_key(name))
        slot = self._reads[name] = [None]
        try:
            data = await self._executor.get(self._entry_key(name))
        except BaseException as error:
            self._end_sharing(name, slot)
            shared = slot[0]
            if shared is not None:
                if isinstance(error, asyncio.CancelledError):
                    shared.cancel()
                else:
                    shared.set_exception(error)
                    shared.exception()  # the callers sharing it raise it; nobody else logs it
            raise
        self._end_sharing(name, slot)
        if slot[0] is not None:
            slot[0].set_result(data)
        return data

    def _end_sharing(self, name: str, slot: list[Any]) -> None:
        if self._reads.get(name) is slot:
            del self._reads[name]

    def _stop_sharing(self, name: str | None = None) -> None:
        if name is None:
            self._reads.clear()
        else:
            self._reads.pop(name, None)

    async def get_many(self, keys: Iterable[str | int]) -> dict[str, T]:
        """The cached values of ``keys`` (one MGET; on a cluster one per slot, sent
        together); with a loader, misses are loaded as ``get`` does. Keys with no value
        are left out."""
        names = list(dict.fromkeys(identifier(key) for key in keys))
        if not names:
            return {}
        entry_keys = [self._entry_key(name) for name in names]
        try:
            if self._breaker is None:
                found = await self._executor.mget(entry_keys)
            else:
                async with self._breaker.guard():
                    found = await self._executor.mget(entry_keys)
        except FAILURES as error:
            if self._loader is None:
                return await self._read_open_none(error)
            loaded = [self._read_open(name, self._loader, error) for name in names]
            return _present(names, await asyncio.gather(*loaded))
        values: dict[str, Any] = {}
        tagged: dict[str, tuple[Entry, Any]] = {}
        stored = set()  # names with an entry, even one that turns out unusable
        for name, data in zip(names, found, strict=True):
            if data is None:
                continue
            stored.add(name)
            entry, value = self._read(name, data)
            if entry is None:
                continue
            if entry.tags:
                tagged[name] = (entry, value)
            else:
                values[name] = value
        if tagged:
            current = await self._tags_current_many([entry.tags for entry, _ in tagged.values()])
            for (name, (_, value)), ok in zip(tagged.items(), current, strict=True):
                if ok:
                    values[name] = value
        if self._loader is not None:
            missing = [name for name in names if name not in values]
            loads = [
                self._flight(name, self._load(name, self._loader, (), name in stored))
                for name in missing
            ]
            values.update(zip(missing, await asyncio.gather(*loads), strict=True))
        return _present(names, [values.get(name) for name in names])

    def _read(self, name: str, data: bytes) -> tuple[Entry | None, T | None]:
        """Decode an entry: ``(entry, value)``, or ``(None, None)`` when it is corrupt."""
        try:
            entry = decode_entry(data)
            value = None if entry.negative else self._serializer.loads(entry.payload)
        except Exception as error:
            self._warn_corrupt(name, error)
            return None, None
        return entry, value

    def _warn_corrupt(self, name: str, error: Exception) -> None:
        if name in self._warned:
            return
        if len(self._warned) < 10_000:
            self._warned.add(name)
        log.warning("%r: entry %r cannot be decoded (%r); treated as a miss", self, name, error)

    # -- loading ------------------------------------------------------------------------

    async def _flight(self, name: str, load: Awaitable[Any]) -> Any:
        """Run ``load`` once per key in this process; every concurrent caller shares it."""
        task = self._flights.get(name)
        if task is None:
            task = asyncio.ensure_future(load)
            self._flights[name] = task
            task.add_done_callback(lambda done: self._landed(name, done))
        elif asyncio.iscoroutine(load):
            load.close()  # another caller's load is already running
        return await asyncio.shield(task)  # a cancelled caller leaves the load to the others

    def _landed(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._flights.get(name) is task:
            del self._flights[name]
        if not task.cancelled():
            task.exception()  # seen by whoever awaited it; never "never retrieved"

    async def _call_loader(self, loader: Loader, name: str) -> Any:
        """The loader's value, typed by the model (a dict from a database row becomes the
        model, as a hit would); ``SerializationError`` if it is not valid, before storing."""
        value = await loader(name)
        return None if value is None else typed(self._serializer, value)

    async def _load(self, name: str, loader: Loader, tags: tuple[str, ...], force: bool) -> Any:
        token = secrets.token_hex(8)
        try:
            versions = await self._tag_versions(tags)
            found, value, taken = await self._try_lease(name, token, force=force, wait=True)
            if found:
                return value
            if taken:
                return await self._load_and_fill(name, loader, versions, token)
            return await self._wait_for_fill(name, loader, versions, token)
        except FAILURES as error:
            if not self.fail_open:
                raise
            self._warn_outage(error)
            return await self._call_loader(loader, name)

    async def _wait_for_fill(
        self, name: str, loader: Loader, versions: tuple[tuple[str, str], ...], token: str
    ) -> Any:
        """Another process loads: wait to be told, or load ourselves after ``lease_ttl``."""
        async with self._executor.notifier.listen(self._keys.key(name, "filled")) as wakeup:
            # filled before we listened? the lease freed?
            found, value, taken = await self._try_lease(name, token, force=False, wait=True)
            if found:
                return value
            if taken:
                return await self._load_and_fill(name, loader, versions, token)
            with anyio.move_on_after(self.lease_ttl):
                await wakeup.event.wait()
            told = wakeup.data if wakeup.event.is_set() else None
        if told == _NONE:
            return None
        if told:
            entry, value = self._read(name, told)
            if entry is not None:
                return value
        # the load failed, was cancelled by a delete, or is taking too long: load ourselves
        found, value, taken = await self._try_lease(name, token, force=False, wait=False)
        if found:
            return value
        if taken:
            return await self._load_and_fill(name, loader, versions, token)
        return await self._call_loader(loader, name)

    async def _try_lease(
        self, name: str, token: str, *, force: bool, wait: bool
    ) -> tuple[bool, Any, bool]:
        """One ``cache_lease.lua`` call: ``(found, value, taken)``: a usable entry that is
        there now, or whether this call took the lease (``wait``: flag that we wait)."""
        entry_data, taken = await self._executor.run_script(
            LEASE, self._load_keys(name), [token, _ms(self.lease_ttl), int(force), int(wait)]
        )
        if entry_data is not None:
            entry, value = self._read(name, entry_data)
            if entry is not None:
                return True, value, False
        return False, None, bool(taken)

    async def _load_and_fill(
        self, name: str, loader: Loader, versions: tuple[tuple[str, str], ...], token: str
    ) -> Any:
        keys = self._load_keys(name)
        channel = self._keys.key(name, "filled")
        started = time.perf_counter()
        try:
            value = await self._call_loader(loader, name)
            delta_ms = int((time.perf_counter() - started) * 1000)
            entry, ttl_ms = self._entry_for(value, delta_ms, versions)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.lease_ttl):
                await self._end_load(keys, token, b"", 0, channel, b"")  # waiters: load yourselves
            raise
        told = entry if ttl_ms else _NONE
        await self._end_load(keys, token, entry, ttl_ms, channel, told)
        return value

    def _entry_for(
        self, value: Any, delta_ms: int, versions: tuple[tuple[str, str], ...]
    ) -> tuple[bytes, int]:
        """The entry to store for a loaded value, and its ttl in ms (0: store nothing)."""
        if value is None:
            if self.negative_ttl is None:
                return b"", 0
            ttl = self.negative_ttl
            entry = encode_entry(
                None, fresh_until_ms=_now_ms() + _ms(ttl), delta_ms=delta_ms, tags=versions
            )
            return entry, _ms(ttl)
        payload = self._executor.sized(self._serializer.dumps(value))
        entry = encode_entry(
            payload, fresh_until_ms=_now_ms() + _ms(self.ttl), delta_ms=delta_ms, tags=versions
        )
        return entry, _ms(self.ttl + (self.stale_ttl or 0.0))

    async def _end_load(
        self, keys: list[str], token: str, entry: bytes, ttl_ms: int, channel: str, told: bytes
    ) -> None:
        try:
            await self._executor.run_script(FILL, keys, [token, entry, ttl_ms, channel, told])
        except FAILURES as error:
            if not self.fail_open:
                raise
            self._warn_outage(error)

    def _maybe_refresh(
        self, name: str, entry: Entry, loader: Loader, tags: tuple[str, ...]
    ) -> None:
        """Start a background refresh of a stale entry, or (XFetch) of one about to expire."""
        if name in self._refreshing:
            return
        now = _now_ms()
        if entry.fresh_until_ms > now:
            if self.early_refresh is None:
                return
            gap = -entry.delta_ms * self.early_refresh * math.log(1.0 - random.random())
            if now + gap < entry.fresh_until_ms:
                return
        elif self.stale_ttl is None:
            return  # past its time by this machine's clock only: Redis has not expired it
        task = asyncio.ensure_future(self._refresh(name, loader, tags))
        self._refreshing[name] = task  # concurrent hits start no second refresh
        task.add_done_callback(lambda done: self._refreshing.pop(name, None))

    async def _refresh(self, name: str, loader: Loader, tags: tuple[str, ...]) -> None:
        """One background load under the lease; whoever does not get it keeps serving."""
        token = secrets.token_hex(8)
        try:
            versions = await self._tag_versions(tags)
            _, taken = await self._executor.run_script(
                LEASE, self._load_keys(name), [token, _ms(self.lease_ttl), 1, 0]
            )
            if taken:
                await self._load_and_fill(name, loader, versions, token)
        except Exception as error:
            log.warning("%r: refreshing %r failed (%r)", self, name, error)

    # -- failing open ---------------------------------------------------------------------

    async def _read_open(self, name: str, loader: Loader | None, error: Exception) -> Any:
        if not self.fail_open:
            raise error
        self._warn_outage(error)
        if loader is None:
            return None

        async def load_direct() -> Any:
            return await self._call_loader(loader, name)

        return await self._flight(name, load_direct())

    async def _read_open_none(self, error: Exception) -> dict[str, T]:
        if not self.fail_open:
            raise error
        self._warn_outage(error)
        return {}

    def _warn_outage(self, error: Exception) -> None:
        if not self._outage:
            self._outage = True
            log.warning("%r: Redis unreachable (%r); serving from the loader", self, error)

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
        payload = self._executor.sized(self._serializer.dumps(value))
        self._stop_sharing(name)
        try:
            versions = await self._tag_versions(tuple(tags))
            entry = encode_entry(
                payload, fresh_until_ms=_now_ms() + _ms(seconds), delta_ms=0, tags=versions
            )
            ttl_ms = _ms(seconds + (self.stale_ttl or 0.0))
            await self._executor.run_script(
                WRITE, self._load_keys(name), [entry, ttl_ms, self._keys.key(name, "filled")]
            )
        except FAILURES as error:
            if not self.fail_open:
                raise
            self._warn_outage(error)

    async def delete(self, key: str | int) -> None:
        """Remove ``key``; a load in progress is refused its write. One EVALSHA."""
        name = identifier(key)
        self._stop_sharing(name)
        await self._executor.run_script(
            WRITE, self._load_keys(name), [b"", 0, self._keys.key(name, "filled")]
        )

    async def invalidate_tags(self, *tags: str) -> None:
        """Every entry stored with one of ``tags`` misses from now on: each tag gets a new
        version (one SET per tag, one round trip), whatever the number of entries."""
        names = self._check_tags(tags)
        if not names:
            return
        self._stop_sharing()
        batch = self._executor.batch()
        for tag in names:
            batch.command("SET", self._tag_key(tag), secrets.token_hex(8), "PX", _ms(self.max_ttl))
        await batch.execute()

    def _check_ttl(self, ttl: Duration | None) -> float:
        if ttl is None:
            return self.ttl
        seconds = check_seconds("ttl", ttl)
        if seconds + (self.stale_ttl or 0.0) > self.max_ttl:
            raise ConfigurationError(f"ttl={ttl!r} (plus stale_ttl) exceeds max_ttl={self.max_ttl}")
        return seconds

    # -- tags -----------------------------------------------------------------------------

    def _check_tags(self, tags: Iterable[str]) -> list[str]:
        names = list(dict.fromkeys(tags))
        for tag in names:
            if not isinstance(tag, str) or not tag:
                raise ConfigurationError(f"tags must be non-empty str, got {tag!r}")
        return names

    def _tag_key(self, tag: str) -> str:
        return self._tag_prefix + escape(tag)

    async def _tag_versions(self, tags: Sequence[str]) -> tuple[tuple[str, str], ...]:
        names = self._check_tags(tags)
        if not names:
            return ()
        fresh = [secrets.token_hex(8) for _ in names]
        versions = await self._executor.run_script(
            TAGS, [self._tag_key(tag) for tag in names], [_ms(self.max_ttl), *fresh]
        )
        return tuple((tag, as_text(version)) for tag, version in zip(names, versions, strict=True))

    async def _tags_current(self, tags: tuple[tuple[str, str], ...]) -> bool:
        return (await self._tags_current_many([tags]))[0]

    async def _tags_current_many(self, groups: list[tuple[tuple[str, str], ...]]) -> list[bool]:
        """Whether each group's tag versions are still current: one MGET for all groups."""
        tags = sorted({tag for group in groups for tag, _ in group})
        found = await self._executor.read("MGET", *[self._tag_key(tag) for tag in tags])
        current = {tag: as_text(v) for tag, v in zip(tags, found, strict=True) if v is not None}
        return [all(current.get(tag) == version for tag, version in group) for group in groups]

    # -- keys -----------------------------------------------------------------------------

    def _entry_key(self, name: str) -> str:
        return self._keys.key(name, "v")

    def _load_keys(self, name: str) -> list[str]:
        tag = self._keys.tag(name)
        return [f"{tag}:v", f"{tag}:lease", f"{tag}:w"]


def _present(names: list[str], values: Sequence[Any]) -> dict[str, Any]:
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}
