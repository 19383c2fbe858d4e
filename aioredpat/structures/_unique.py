"""``UniqueCounter``: distinct items per time bucket, counted by HyperLogLog."""

from __future__ import annotations

from .._checks import check_count, check_seconds
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ..ratelimit._clock import ServerClock
from ._common import encode_member

__all__ = ("UniqueCounter",)

ADD = LuaScript("unique_add")
CHUNK = 4000  # items per script call: Lua's unpack() takes at most about 8000


class UniqueCounter:
    """How many distinct items were seen under a key, per time bucket.

    Each ``bucket`` seconds of the server's Unix time (aligned to multiples of it, so every
    process agrees) has its own HyperLogLog per key, about 12 KB at most whatever the
    number of items, with an error around 0.81%. A bucket lives ``ttl`` seconds after its
    last ``add`` (``ttl`` must be at least ``bucket``). The buckets of one key share a slot
    on a cluster, so ``count`` over several is one PFCOUNT.

    The bucket is chosen from the server's clock as seen here (the client's clock corrected
    by its measured offset to the server's, re-measured every 30 s), never the raw client
    clock.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        bucket: Duration = 86400.0,
        ttl: Duration,
    ) -> None:
        self.bucket = check_seconds("bucket", bucket, minimum=1.0)
        self.ttl = check_seconds("ttl", ttl)
        if self.ttl < self.bucket:
            raise ConfigurationError(f"ttl={ttl!r} must be at least bucket={bucket!r}")
        self._keys = KeyBuilder(check_namespace(namespace))
        self._executor = executor_for(conn)
        self._clock = ServerClock(self._executor)
        self._bucket_us = int(self.bucket * 1_000_000)

    def __repr__(self) -> str:
        return f"UniqueCounter(namespace={self._keys.prefix[:-1]!r}, bucket={self.bucket})"

    async def _current(self) -> int:
        return await self._clock.now_us() // self._bucket_us

    def _bucket_key(self, key: str | int, index: int) -> str:
        return self._keys.key(key, str(index))

    async def add(self, key: str | int, *items: str) -> None:
        """Count ``items`` (strings) into ``key``'s current bucket: one round trip."""
        encoded = [encode_member(item) for item in items]
        if not encoded:
            return
        bucket_key = self._bucket_key(key, await self._current())
        ttl_ms = int(self.ttl * 1000)
        if len(encoded) <= CHUNK:
            await self._executor.run_script(ADD, [bucket_key], [ttl_ms, *encoded])
            return
        batch = self._executor.batch()
        for start in range(0, len(encoded), CHUNK):
            batch.script(ADD, [bucket_key], [ttl_ms, *encoded[start : start + CHUNK]])
        await batch.execute()

    async def count(self, key: str | int, *, buckets: int = 1) -> int:
        """The distinct items of ``key``'s last ``buckets`` buckets, the current one
        included (an item seen in several counts once): one PFCOUNT."""
        check_count("buckets", buckets)
        current = await self._current()
        keys = [self._bucket_key(key, current - i) for i in range(buckets)]
        return int(await self._executor.read("PFCOUNT", *keys))
