from __future__ import annotations

import dataclasses
from collections.abc import Sequence

__all__ = ("RateLimitResult",)


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitResult:
    """What one check decided, all from the same round trip.

    - ``allowed``: whether the hit passes (a denied hit consumed nothing);
    - ``remaining``: how much cost could still pass right now after this decision;
    - ``retry_after``: seconds until a hit of the same cost could pass (0.0 when allowed);
    - ``reset_after``: seconds until the limit is back to its full allowance.
    """

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float

    @classmethod
    def from_reply(cls, reply: Sequence[int]) -> RateLimitResult:
        return cls(reply[0] == 1, reply[1], reply[2] / 1e6, reply[3] / 1e6)
