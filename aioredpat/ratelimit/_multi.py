from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from .._checks import check_count, check_seconds
from .._scripts import LuaScript
from .._types import Connection
from ..errors import ConfigurationError
from ._base import Limiter

__all__ = ("MultiLimit",)

Algorithm = Literal["sliding_window", "sliding_window_approx", "fixed_window", "token_bucket"]
SCRIPTS: dict[str, tuple[LuaScript, str]] = {
    "sliding_window": (LuaScript("ratelimit_sliding_window"), "s"),
    "sliding_window_approx": (LuaScript("ratelimit_sliding_window_approx"), "a"),
    "fixed_window": (LuaScript("ratelimit_fixed_window"), "f"),
    "token_bucket": (LuaScript("ratelimit_token_bucket"), "t"),
}


class MultiLimit(Limiter):
    """Several limits on one identifier, checked and consumed all-or-nothing in one EVALSHA.

    ``limits`` is a list of ``(amount, seconds)``: ``[(10, 1.0), (1000, 3600.0)]`` allows 10
    per second and 1000 per hour. For ``token_bucket``, ``(amount, seconds)`` is a bucket of
    ``amount`` tokens refilled at ``amount / seconds`` per second. A hit passes only when
    every limit allows it; then ``remaining`` is the smallest of them and ``retry_after``
    the largest wait. The keys of one identifier share a hash tag, so this works on a cluster.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        limits: Sequence[tuple[int, float]],
        algorithm: Algorithm = "sliding_window",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if algorithm not in SCRIPTS:
            raise ConfigurationError(
                f"algorithm must be one of {sorted(SCRIPTS)}, got {algorithm!r}"
            )
        if not limits:
            raise ConfigurationError("limits must name at least one (amount, seconds) pair")
        self.algorithm = algorithm
        self.limits = [
            (check_count("limit amount", amount), check_seconds("limit seconds", seconds))
            for amount, seconds in limits
        ]
        self._script, kind = SCRIPTS[algorithm]
        if algorithm == "token_bucket":
            pairs = [(amount, seconds * 1e6 / amount) for amount, seconds in self.limits]
        else:
            pairs = [(amount, float(round(seconds * 1e6))) for amount, seconds in self.limits]
        self._parts = [f"{kind}{amount}/{seconds!r}" for amount, seconds in self.limits]
        super().__init__(conn, namespace=namespace, limits=pairs, clock=clock)

    def policies(self) -> list[tuple[int, float]]:
        return list(self.limits)

    def _key_list(self, identifier: str | int) -> list[str]:
        return [self._keys.key(identifier, part) for part in self._parts]
