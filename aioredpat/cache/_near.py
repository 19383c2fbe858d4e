"""``NearCache``: a cache's hits from process memory, kept correct by Redis' invalidation.

What is remembered is what a read got from Redis: the entry (with its freshness and tags)
and its decoded value, under the Redis key, with the tracking node and epoch it was read
under. A copy is served only while it is fresh, while that node's tracking connection is
trusted (see ``_tracking``) in the same epoch, and while the key still lives on that node.

The race between a read on the wire and an invalidation: a read registers itself before
its GET leaves (``begin``); an invalidation of its key, or of any tag, or a reset, marks it
spoiled, and a spoiled read's value is not remembered. So an invalidation that arrives
while the read is on the wire wins, whichever of the two the server handled first.
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any

from .._checks import check_count, check_seconds
from .._telemetry import INSTRUMENTS, attributes
from .._types import Duration
from ..errors import ConfigurationError
from ._entry import Entry
from ._layout import now_ms

if TYPE_CHECKING:
    from .._executor import Executor
    from .._tracking import Tracking

__all__ = ("NearCache", "NearRead")


class _Copy:
    __slots__ = ("entry", "epoch", "node", "tag_keys", "value")

    def __init__(
        self, entry: Entry, value: Any, node: str, epoch: int, tag_keys: tuple[str, ...]
    ) -> None:
        self.entry = entry
        self.value = value
        self.node = node
        self.epoch = epoch
        self.tag_keys = tag_keys


class NearRead:
    """A read of one key from Redis, registered before it leaves."""

    __slots__ = ("epoch", "key", "node", "spoiled")

    def __init__(self, key: str, node: str, epoch: int) -> None:
        self.key = key
        self.node = node
        self.epoch = epoch
        self.spoiled = False


class NearCache:
    """Up to ``max_entries`` of a cache's entries in process memory, least recently used
    out first. Pass it as ``near_cache=`` to ``CacheAside``, ``WriteThrough`` or
    ``@cached`` (one cache per ``NearCache``).

    A hit is answered without Redis. A write of a key by any client, in any process
    (a set, a delete, an expiry, an eviction, a tag invalidated, a FLUSHALL), removes the
    copies as soon as Redis' invalidation message arrives. A copy is never served past its
    entry's freshness, nor while the invalidation connection is not known to be current:
    lost, or silent for ``max_staleness`` seconds (a cut network, a paused server). A
    reconnection drops every copy.

    ``hits``, ``misses``, ``invalidations`` (copies removed because Redis said the key
    changed), ``evictions`` (copies dropped for room) and ``resets`` (every copy dropped:
    the invalidation connection was made, lost or made again, or the server flushed)
    count what happened; ``ready`` tells whether invalidations are current right now.
    """

    def __init__(self, max_entries: int = 10_000, *, max_staleness: Duration = 1.0) -> None:
        self.max_entries = check_count("max_entries", max_entries)
        self.max_staleness = check_seconds("max_staleness", max_staleness, minimum=0.3)
        self.hits = self.misses = self.invalidations = self.evictions = self.resets = 0
        self._copies: collections.OrderedDict[str, _Copy] = collections.OrderedDict()
        self._by_tag: dict[str, set[str]] = {}
        self._reads: dict[str, list[NearRead]] = {}
        self._tracking: Tracking | None = None
        self._owner: object = None
        self._tag_prefix = "\x00"  # the owner's tag keys start with this (set by ``bind``)
        self._hit_attrs = self._miss_attrs = self._namespace_attrs = attributes()

    def __repr__(self) -> str:
        return f"NearCache(max_entries={self.max_entries}, size={len(self._copies)})"

    def __len__(self) -> int:
        return len(self._copies)

    # -- for the cache that owns it -------------------------------------------------------

    def bind(self, owner: object, executor: Executor, prefix: str, tag_prefix: str) -> None:
        """Serve ``owner``'s keys (all under ``prefix``, its tag versions under
        ``tag_prefix``) read through ``executor``."""
        if self._owner is not None:
            raise ConfigurationError(
                f"{self!r} already serves {self._owner!r}: give each cache its own NearCache"
            )
        from .._tracking import Tracking

        self._owner = owner
        self._tag_prefix = tag_prefix
        namespace = prefix[:-1]
        self._hit_attrs = attributes(namespace=namespace, result="hit")
        self._miss_attrs = attributes(namespace=namespace, result="miss")
        self._namespace_attrs = attributes(namespace=namespace)
        self._tracking = Tracking(
            executor.client,
            prefix,
            max_staleness=self.max_staleness,
            on_keys=self._invalidated,
            on_reset=self._reset,
        )
        executor.on_close(self._tracking.aclose)

    @property
    def ready(self) -> bool:
        """Whether copies may be served now: listening to every node's invalidations, and
        heard from each within ``max_staleness``."""
        tracking = self._tracking
        return tracking is not None and tracking.all_trusted()

    def lookup(self, key: str) -> _Copy | None:
        """The copy of ``key`` that may be served now, or ``None`` (counted as a miss)."""
        copy = self._copies.get(key)
        tracking = self._tracking
        if copy is None or tracking is None:
            self._missed()
            return None
        # tracking.epoch_if_trusted(copy.node), inlined: this runs on every hit
        state = tracking.nodes.get(copy.node)
        if (
            state is None
            or not state.live
            or state.epoch != copy.epoch
            or time.monotonic() - state.confirmed >= self.max_staleness
            or copy.entry.fresh_until_ms <= now_ms()
            or (tracking.cluster and tracking.node_of(key) != copy.node)
        ):
            self._drop(key)
            self._missed()
            return None
        self._copies.move_to_end(key)
        self.hits += 1
        if INSTRUMENTS is not None:
            INSTRUMENTS.near_requests.add(1, self._hit_attrs)
        return copy

    def _missed(self) -> None:
        self.misses += 1
        if INSTRUMENTS is not None:
            INSTRUMENTS.near_requests.add(1, self._miss_attrs)

    def begin(self, key: str) -> NearRead | None:
        """Register a read of ``key`` about to leave for Redis; ``None`` when what it
        brings back could not be remembered (tracking is not current)."""
        tracking = self._tracking
        if tracking is None:
            return None
        tracking.start()
        node = tracking.node_of(key)
        epoch = tracking.epoch_if_trusted(node)
        if epoch is None:
            return None
        read = NearRead(key, node, epoch)
        self._reads.setdefault(key, []).append(read)
        return read

    def end(self, read: NearRead | None) -> None:
        """The read is over (answered, failed or cancelled)."""
        if read is None:
            return
        reads = self._reads.get(read.key)
        if reads is not None:
            if read in reads:
                reads.remove(read)
            if not reads:
                del self._reads[read.key]

    def remember(
        self, read: NearRead | None, entry: Entry, value: Any, tag_keys: tuple[str, ...]
    ) -> None:
        """Keep what ``read`` brought back, unless something changed while it was out."""
        if read is None:
            return
        self.end(read)
        tracking = self._tracking
        if (
            read.spoiled
            or tracking is None
            or tracking.epoch_if_trusted(read.node) != read.epoch
            or entry.fresh_until_ms <= now_ms()
        ):
            return
        key = read.key
        self._drop(key)
        self._copies[key] = _Copy(entry, value, read.node, read.epoch, tag_keys)
        for tag_key in tag_keys:
            self._by_tag.setdefault(tag_key, set()).add(key)
        while len(self._copies) > self.max_entries:
            oldest = next(iter(self._copies))
            self._drop(oldest)
            self.evictions += 1

    def forget(self, key: str | None = None) -> None:
        """This process changes ``key`` (or every key): drop its copy and spoil its reads
        on the wire. Called before and after the write, so that no read that overlapped
        it remembers the value it replaced."""
        if key is None:
            self.clear()
            return
        self._drop(key)
        for read in self._reads.get(key, ()):
            read.spoiled = True

    def clear(self) -> None:
        """Drop every copy and spoil every read on the wire."""
        self._copies.clear()
        self._by_tag.clear()
        for reads in self._reads.values():
            for read in reads:
                read.spoiled = True

    def _reset(self) -> None:
        self.resets += 1
        self.clear()

    async def aclose(self) -> None:
        """Stop listening for invalidations (the pool's ``aclose`` does it too)."""
        if self._tracking is not None:
            await self._tracking.aclose()
        self.clear()

    # -- invalidations ----------------------------------------------------------------------

    def _invalidated(self, keys: list[bytes]) -> None:
        before = self.invalidations
        self._drop_invalidated(keys)
        if INSTRUMENTS is not None and self.invalidations > before:
            INSTRUMENTS.near_invalidations.add(self.invalidations - before, self._namespace_attrs)

    def _drop_invalidated(self, keys: list[bytes]) -> None:
        for raw in keys:
            key = raw.decode("utf-8", "surrogateescape")
            if self._drop(key):
                self.invalidations += 1
            for read in self._reads.get(key, ()):
                read.spoiled = True
            if key.startswith(self._tag_prefix):  # a tag's version changed
                for name in list(self._by_tag.pop(key, ())):
                    if self._drop(name):
                        self.invalidations += 1
                for reads in self._reads.values():  # any read may bring back that tag
                    for read in reads:
                        read.spoiled = True

    def _drop(self, key: str) -> bool:
        copy = self._copies.pop(key, None)
        if copy is None:
            return False
        for tag_key in copy.tag_keys:
            keys = self._by_tag.get(tag_key)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag_key]
        return True
