from __future__ import annotations

from collections.abc import Callable

from .._checks import check_count, check_rate
from .._scripts import LuaScript
from .._types import Connection
from ._base import Limiter

__all__ = ("TokenBucket",)


class TokenBucket(Limiter):
    """A bucket of ``capacity`` tokens, refilled continuously at ``refill_rate`` per second.

    It starts full, so a burst of ``capacity`` passes at once; after that, hits pass at the
    refill rate. Stored as GCRA: one integer per identifier (the instant the bucket would
    be full again) in one key, ``<namespace>:t<identifier>``, that expires once the bucket is
    full. Each ``hit``/``peek`` is one EVALSHA reading the server's clock.
    """

    _script = LuaScript("ratelimit_token_bucket")

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        capacity: int,
        refill_rate: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.capacity = check_count("capacity", capacity)
        self.refill_rate = check_rate("refill_rate", refill_rate)
        interval_us = 1e6 / self.refill_rate
        super().__init__(
            conn, namespace=namespace, limits=[(self.capacity, interval_us)], clock=clock
        )

    def policies(self) -> list[tuple[int, float]]:
        return [(self.capacity, self.capacity / self.refill_rate)]  # a full bucket refills in w

    def _key_list(self, identifier: str | int) -> list[str]:
        return [self._keys.single("t", identifier)]
