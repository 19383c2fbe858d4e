"""Where one cache's data lives in Redis: every key and channel name, built here only.

For a cache key ``k`` (all in one slot, ``<ns>:{k}:...``): ``v`` the entry, ``lease`` the
loading lease, ``w`` the flag that someone waits for a load, ``ws`` a write-through write's
state; the channel ``<ns>:{k}:filled`` tells waiters a load's outcome. Tag versions live
under ``<ns>:{~tags}:<tag>``, one slot for the whole namespace, so a tagged read checks
all its tags with one MGET.
"""

from __future__ import annotations

import math
import time

from .._keys import KeyBuilder, escape

__all__ = ("CacheKeys", "ms", "now_ms")


def now_ms() -> int:
    """Wall-clock time in ms since the epoch: what entries' freshness is written in."""
    return int(time.time() * 1000)


def ms(seconds: float) -> int:
    """A duration in whole milliseconds, at least one (what Redis' PX takes)."""
    return max(1, math.ceil(seconds * 1000))


class CacheKeys:
    __slots__ = ("_builder", "_object_prefix", "_tag_prefix", "namespace")

    def __init__(self, namespace: str) -> None:
        self._builder = KeyBuilder(namespace)
        self.namespace = namespace
        self._tag_prefix = self._builder.shared("tags") + ":"
        self._object_prefix = self._builder.prefix + "{"

    def entry(self, name: str) -> str:
        """``<ns>:{<name>}:v``, as ``KeyBuilder.key`` makes it (every hit builds one)."""
        return f"{self._object_prefix}{escape(name)}}}:v"

    def load(self, name: str) -> list[str]:
        """The keys a load works on: the entry, the lease, the waiters flag."""
        tag = self._builder.tag(name)
        return [f"{tag}:v", f"{tag}:lease", f"{tag}:w"]

    def filled(self, name: str) -> str:
        """The channel a load's outcome is published on."""
        return self._builder.key(name, "filled")

    def write_state(self, name: str) -> str:
        """A write-through write's sequence and in-progress count (a hash)."""
        return self._builder.key(name, "ws")

    @property
    def tag_prefix(self) -> str:
        """Every tag version's key starts with this."""
        return self._tag_prefix

    def tag(self, tag: str) -> str:
        return self._tag_prefix + escape(tag)
