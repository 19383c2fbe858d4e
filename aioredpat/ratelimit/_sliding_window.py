from __future__ import annotations

from collections.abc import Callable

from .._checks import check_count, check_seconds
from .._scripts import LuaScript
from .._types import Connection, Duration
from ._base import Limiter

__all__ = ("SlidingWindow",)

EXACT = LuaScript("ratelimit_sliding_window")
APPROXIMATE = LuaScript("ratelimit_sliding_window_approx")


class SlidingWindow(Limiter):
    """At most ``limit`` in any span of ``window`` seconds.

    Exact by default: the allowed hits of the last window are kept in one sorted set per
    identifier (``<namespace>:s<identifier>``), so memory grows with the hits inside a
    window, and no span of ``window`` ever holds more than ``limit``.

    ``approximate=True`` keeps two counters instead (O(1) memory, one string key
    ``<namespace>:a<identifier>``) and estimates the sliding count by weighting the
    previous fixed window by its overlap. It can let through up to nearly ``2 * limit`` in
    one span when the previous window's hits all came at its very end; with evenly spread
    traffic it stays close to ``limit``.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        limit: int,
        window: Duration,
        approximate: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.limit = check_count("limit", limit)
        self.window = check_seconds("window", window)
        self.approximate = bool(approximate)
        self._script = APPROXIMATE if self.approximate else EXACT
        self._kind = "a" if self.approximate else "s"
        window_us = round(self.window * 1e6)
        super().__init__(conn, namespace=namespace, limits=[(self.limit, window_us)], clock=clock)

    def policies(self) -> list[tuple[int, float]]:
        return [(self.limit, self.window)]

    def _key_list(self, identifier: str | int) -> list[str]:
        return [self._keys.single(self._kind, identifier)]
