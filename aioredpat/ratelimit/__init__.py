"""Rate limiters: exact, one EVALSHA per decision, on the server's clock.

``TokenBucket``, ``SlidingWindow`` (exact, or approximate with O(1) memory), ``FixedWindow``
and ``MultiLimit`` (several limits all-or-nothing) share one interface: ``hit``, ``peek``,
``acquire`` and ``reset``, each answering a ``RateLimitResult``.
``aioredpat.ratelimit.asgi`` has the ASGI middleware.
"""

from ._fixed_window import FixedWindow as FixedWindow
from ._multi import MultiLimit as MultiLimit
from ._result import RateLimitResult as RateLimitResult
from ._sliding_window import SlidingWindow as SlidingWindow
from ._token_bucket import TokenBucket as TokenBucket

__all__ = ("FixedWindow", "MultiLimit", "RateLimitResult", "SlidingWindow", "TokenBucket")
