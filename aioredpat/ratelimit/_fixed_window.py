from __future__ import annotations

from collections.abc import Callable

from .._checks import check_count, check_seconds
from .._scripts import LuaScript
from .._types import Connection, Duration
from ._base import Limiter

__all__ = ("FixedWindow",)


class FixedWindow(Limiter):
    """At most ``limit`` per window of ``window`` seconds, windows aligned to the epoch.

    The cheapest limiter: one small string per identifier (``<namespace>:f<identifier>``)
    holding the window and its count. Denied hits are not counted. Across a window
    boundary up to ``2 * limit`` can pass within one ``window`` span (the end of one
    window and the start of the next); use ``SlidingWindow`` where that matters.
    """

    _script = LuaScript("ratelimit_fixed_window")

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        limit: int,
        window: Duration,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.limit = check_count("limit", limit)
        self.window = check_seconds("window", window)
        window_us = round(self.window * 1e6)
        super().__init__(conn, namespace=namespace, limits=[(self.limit, window_us)], clock=clock)

    def policies(self) -> list[tuple[int, float]]:
        return [(self.limit, self.window)]

    def _key_list(self, identifier: str | int) -> list[str]:
        return [self._keys.single("f", identifier)]
