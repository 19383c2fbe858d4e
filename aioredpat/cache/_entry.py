"""How a cache entry is stored: a one-line header, then the serialized value.

    ar1|<kind>|<fresh until, ms>|<load time, ms>|<tags>\\n<value>

``kind`` is ``v`` (a value) or ``n`` (the loader found nothing: a negative entry).
``fresh until`` is the wall-clock time (ms since the epoch) after which the entry is stale:
served while a refresh runs in stale-while-revalidate mode, otherwise the Redis TTL ends it
at that moment anyway. ``load time`` is how long the loader took (XFetch's delta).
``tags`` is empty, or a JSON list of ``[tag, version]`` pairs read before the value was
produced. Anything that does not parse is a corrupt entry, and a corrupt entry is a miss.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Generic, Protocol, TypeVar

from .._executor import Executor
from ..serializers import Serializer, typed
from ._layout import ms, now_ms

__all__ = ("Entries", "Entry", "Timings", "Versions", "decode_entry", "encode_entry")

log = logging.getLogger("aioredpat")

T = TypeVar("T")
Versions = tuple[tuple[str, str], ...]  # (tag, version) pairs

MAGIC = b"ar1"


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    negative: bool
    fresh_until_ms: int
    delta_ms: int
    tags: tuple[tuple[str, str], ...]
    payload: bytes


def encode_entry(
    payload: bytes | None,
    *,
    fresh_until_ms: int,
    delta_ms: int,
    tags: tuple[tuple[str, str], ...] = (),
) -> bytes:
    kind = b"n" if payload is None else b"v"
    tag_text = json.dumps(tags, separators=(",", ":")).encode() if tags else b""
    header = b"|".join(
        (MAGIC, kind, str(fresh_until_ms).encode(), str(delta_ms).encode(), tag_text)
    )
    return header + b"\n" + (payload or b"")


def decode_entry(data: bytes) -> Entry:
    """Parse a stored entry; ``ValueError`` when it is not one."""
    header, newline, payload = data.partition(b"\n")
    parts = header.split(b"|", 4)
    if not newline or len(parts) != 5 or parts[0] != MAGIC or parts[1] not in (b"v", b"n"):
        raise ValueError("not a cache entry")
    tags: tuple[tuple[str, str], ...] = ()
    if parts[4]:
        tags = tuple((str(tag), str(version)) for tag, version in json.loads(parts[4]))
    return Entry(parts[1] == b"n", int(parts[2]), int(parts[3]), tags, payload)


class Timings(Protocol):
    """A cache's durations, in seconds (``CacheAside`` has them as attributes)."""

    ttl: float
    negative_ttl: float | None
    stale_ttl: float | None
    lease_ttl: float
    early_refresh: float | None


class Entries(Generic[T]):
    """One cache's values as stored entries and back: its serializer, its ttls, the pool's
    size limit, and a warning (once per key) for an entry that does not decode."""

    __slots__ = ("_executor", "_owner", "_serializer", "_timings", "_warned")

    def __init__(
        self, owner: object, serializer: Serializer[T], executor: Executor, timings: Timings
    ) -> None:
        self._owner = owner
        self._serializer = serializer
        self._executor = executor
        self._timings = timings
        self._warned: set[str] = set()

    def decode(self, name: str, data: bytes) -> tuple[Entry, T | None] | None:
        """The entry and its value, or ``None`` when it is corrupt (a miss)."""
        try:
            entry = decode_entry(data)
            value = None if entry.negative else self._serializer.loads(entry.payload)
        except Exception as error:
            if name not in self._warned:
                if len(self._warned) < 10_000:
                    self._warned.add(name)
                log.warning(
                    "%r: entry %r cannot be decoded (%r); treated as a miss",
                    self._owner,
                    name,
                    error,
                )
            return None
        return entry, value

    def payload(self, value: T) -> bytes:
        """``value`` encoded (``SerializationError`` if it is not valid; ``ValueTooLarge``)."""
        return self._executor.sized(self._serializer.dumps(value))

    def typed(self, value: Any) -> T:
        """A loader's value as the model (a dict from a row becomes the model, as a hit
        would); ``SerializationError`` if it is not valid."""
        return typed(self._serializer, value)

    def stored(self, payload: bytes, seconds: float, versions: Versions) -> tuple[bytes, int]:
        """An entry for ``payload`` fresh for ``seconds``, and its Redis ttl in ms."""
        entry = encode_entry(
            payload, fresh_until_ms=now_ms() + ms(seconds), delta_ms=0, tags=versions
        )
        return entry, ms(seconds + (self._timings.stale_ttl or 0.0))

    def loaded(self, value: Any, delta_ms: int, versions: Versions) -> tuple[bytes, int]:
        """The entry to store for a loaded value, and its ttl in ms (0: store nothing)."""
        timings = self._timings
        if value is None:
            if timings.negative_ttl is None:
                return b"", 0
            ttl = timings.negative_ttl
            entry = encode_entry(
                None, fresh_until_ms=now_ms() + ms(ttl), delta_ms=delta_ms, tags=versions
            )
            return entry, ms(ttl)
        entry = encode_entry(
            self.payload(value),
            fresh_until_ms=now_ms() + ms(timings.ttl),
            delta_ms=delta_ms,
            tags=versions,
        )
        return entry, ms(timings.ttl + (timings.stale_ttl or 0.0))
