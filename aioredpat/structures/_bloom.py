"""``BloomFilter``: set membership with no false negatives, in a bitmap sized for its job."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

from .._checks import check_count
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ._common import encode_member, ttl_ms

__all__ = ("BloomFilter",)

ADD = LuaScript("bloom_add")
CHECK = LuaScript("bloom_check")
MAX_BITS = 2**32  # Redis' largest string, 512 MB


class BloomFilter:
    """A bloom filter for ``capacity`` items with a false-positive rate of ``error_rate``.

    The bitmap has the optimal size for those two numbers, ``m = -n ln p / (ln 2)^2`` bits,
    and each item sets ``k = m / n ln 2`` of them (positions from a 128-bit BLAKE2b digest
    by double hashing). It is one string key (one slot on a cluster), made at its full size
    on the first ``add`` so that it never grows. ``add`` and ``contains_many`` are one
    EVALSHA each, whatever the number of items. Past ``capacity`` items the false-positive
    rate climbs; there are never false negatives.
    """

    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        capacity: int,
        error_rate: float = 0.01,
        namespace: str = "bloom",
        ttl: Duration | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
        self.capacity = check_count("capacity", capacity)
        if isinstance(error_rate, bool) or not isinstance(error_rate, float | int):
            raise ConfigurationError(f"error_rate must be a number, got {error_rate!r}")
        if not 0 < error_rate < 1:
            raise ConfigurationError(f"error_rate must be between 0 and 1, got {error_rate!r}")
        self.error_rate = float(error_rate)
        self.bits = math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)
        if self.bits > MAX_BITS:
            raise ConfigurationError(
                f"capacity={capacity} at error_rate={error_rate} needs {self.bits:,} bits, "
                "past Redis' 512 MB string"
            )
        self.hashes = max(1, round(self.bits / capacity * math.log(2)))
        self.name = name
        self._key = KeyBuilder(check_namespace(namespace)).single("f", name)
        self._ttl_ms = ttl_ms(ttl)
        self._executor = executor_for(conn)

    def __repr__(self) -> str:
        return f"BloomFilter({self.name!r}, capacity={self.capacity}, error_rate={self.error_rate})"

    def _offsets(self, items: Iterable[str]) -> list[int]:
        offsets: list[int] = []
        bits, k = self.bits, self.hashes
        for item in items:
            digest = hashlib.blake2b(encode_member(item), digest_size=16).digest()
            first = int.from_bytes(digest[:8], "little")
            second = int.from_bytes(digest[8:], "little") | 1
            offsets.extend((first + i * second) % bits for i in range(k))
        return offsets

    async def add(self, *items: str) -> int:
        """Add ``items``; how many were certainly new (had a bit unset)."""
        if not items:
            return 0
        args = [math.ceil(self.bits / 8), self.hashes, self._ttl_ms, *self._offsets(items)]
        return int(await self._executor.run_script(ADD, [self._key], args))

    async def contains(self, item: str) -> bool:
        """``False``: never added. ``True``: added, or a false positive."""
        return (await self.contains_many([item]))[0]

    async def contains_many(self, items: Iterable[str]) -> list[bool]:
        offsets = self._offsets(items)
        if not offsets:
            return []
        found = await self._executor.run_script(CHECK, [self._key], [self.hashes, *offsets])
        return [bool(flag) for flag in found]
