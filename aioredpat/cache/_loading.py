"""Loading on a miss, once across processes: the lease protocol.

A miss runs ``cache_lease.lua``: the caller that takes the lease calls the loader and
stores the value with ``cache_fill.lua`` (only while its lease stands, so a ``set`` or
``delete`` made meanwhile wins); the others subscribe to the key's ``filled`` channel and
receive the stored entry in the notification itself, or load for themselves once
``lease_ttl`` passes without one.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._backoff import FAILURES
from .._executor import Executor
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes, clock
from ._entry import Entries, Timings, Versions
from ._failopen import FailOpen
from ._layout import CacheKeys, ms
from ._tags import TagVersions

__all__ = ("Lease", "Loads")

LEASE = LuaScript("cache_lease")
FILL = LuaScript("cache_fill")

Loader = Callable[[str], Awaitable[Any]]

_NONE = b"none"  # told to waiters: the loader found nothing, and nothing was stored


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """What one ``cache_lease.lua`` call found: a usable entry (``hit``, with its
    ``value``), or whether this call ``taken`` the lease (else another process holds it)."""

    hit: bool = False
    value: Any = None
    taken: bool = False


class Loads:
    """Loads of one cache's keys under the lease, with their fills and their waiters."""

    __slots__ = (
        "_entries", "_executor", "_fail_open", "_keys", "_load_attrs", "_tags", "_timings"
    )  # fmt: skip

    def __init__(
        self,
        *,
        executor: Executor,
        keys: CacheKeys,
        entries: Entries[Any],
        tags: TagVersions,
        timings: Timings,
        fail_open: FailOpen,
    ) -> None:
        self._executor = executor
        self._keys = keys
        self._entries = entries
        self._tags = tags
        self._timings = timings
        self._fail_open = fail_open
        self._load_attrs = attributes(namespace=keys.namespace)

    async def call_loader(self, loader: Loader, name: str) -> Any:
        """The loader's value, typed by the model; ``SerializationError`` if it is not
        valid, before anything is stored."""
        if INSTRUMENTS is None:
            value = await loader(name)
        else:
            started = clock()
            try:
                value = await loader(name)
            finally:
                INSTRUMENTS.cache_load.record(clock() - started, self._load_attrs)
        return None if value is None else self._entries.typed(value)

    async def load(self, name: str, loader: Loader, tags: tuple[str, ...], force: bool) -> Any:
        """A miss of ``name``: the entry if it appeared meanwhile, else the loader's value,
        stored by whoever took the lease. ``force`` replaces an unusable entry."""
        token = secrets.token_hex(8)
        try:
            versions = await self._tags.read(tags)
            lease = await self.try_lease(name, token, force=force, wait=True)
            if lease.hit:
                return lease.value
            if lease.taken:
                return await self.load_and_fill(name, loader, versions, token)
            return await self._wait_for_fill(name, loader, versions, token)
        except FAILURES as error:
            self._fail_open.absorb(error)
            return await self.call_loader(loader, name)

    async def refresh(self, name: str, loader: Loader, tags: tuple[str, ...]) -> None:
        """One load in the background, if this process gets the lease; the current entry
        is served meanwhile."""
        token = secrets.token_hex(8)
        versions = await self._tags.read(tags)
        if (await self.try_lease(name, token, force=True, wait=False)).taken:
            await self.load_and_fill(name, loader, versions, token)

    async def try_lease(self, name: str, token: str, *, force: bool, wait: bool) -> Lease:
        """One ``cache_lease.lua`` call (``wait``: flag that we wait for another's load)."""
        entry_data, taken = await self._executor.run_script(
            LEASE,
            self._keys.load(name),
            [token, ms(self._timings.lease_ttl), int(force), int(wait)],
        )
        if entry_data is not None:
            decoded = self._entries.decode(name, entry_data)
            if decoded is not None:
                return Lease(hit=True, value=decoded[1])
        return Lease(taken=bool(taken))

    async def load_and_fill(self, name: str, loader: Loader, versions: Versions, token: str) -> Any:
        started = time.perf_counter()
        try:
            value = await self.call_loader(loader, name)
            delta_ms = int((time.perf_counter() - started) * 1000)
            entry, ttl_ms = self._entries.loaded(value, delta_ms, versions)
        except BaseException:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._timings.lease_ttl):
                await self._fill(name, token, b"", 0, b"")  # waiters: load yourselves
            raise
        await self._fill(name, token, entry, ttl_ms, entry if ttl_ms else _NONE)
        return value

    async def _fill(self, name: str, token: str, entry: bytes, ttl_ms: int, told: bytes) -> None:
        async with self._fail_open.skipping():
            await self._executor.run_script(
                FILL, self._keys.load(name), [token, entry, ttl_ms, self._keys.filled(name), told]
            )

    async def _wait_for_fill(
        self, name: str, loader: Loader, versions: Versions, token: str
    ) -> Any:
        """Another process loads: wait to be told, or load ourselves after ``lease_ttl``."""
        async with self._executor.notifier.listen(self._keys.filled(name)) as wakeup:
            # filled before we listened? the lease freed?
            lease = await self.try_lease(name, token, force=False, wait=True)
            if lease.hit:
                return lease.value
            if lease.taken:
                return await self.load_and_fill(name, loader, versions, token)
            with anyio.move_on_after(self._timings.lease_ttl):
                await wakeup.event.wait()
            told = wakeup.data if wakeup.event.is_set() else None
        if told == _NONE:
            return None
        if told:
            decoded = self._entries.decode(name, told)
            if decoded is not None:
                return decoded[1]
        # the load failed, was cancelled by a delete, or is taking too long: load ourselves
        lease = await self.try_lease(name, token, force=False, wait=False)
        if lease.hit:
            return lease.value
        if lease.taken:
            return await self.load_and_fill(name, loader, versions, token)
        return await self.call_loader(loader, name)
