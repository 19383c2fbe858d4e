"""``Breaker``: how fail-open patterns stop waiting on a Redis that is down.

A fail-open call (a cache read that can fall back to the loader, a rate limit that can let
a request through) should not wait the full call deadline for a server that never answers,
and should not wait at all while the server is known to be down. ``async with
breaker.guard():`` runs its body with a deadline of ``timeout`` (the socket timeout); a
failure or that deadline opens the breaker for ``cooldown`` seconds, during which every
guarded call fails at once with ``BreakerOpen`` (a ``redis.exceptions.ConnectionError``),
without touching Redis. After the cooldown one call probes: its success closes the breaker,
its failure opens it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._backoff import FAILURES
from ._pools import deadline_after

__all__ = ("Breaker", "BreakerOpen")


class BreakerOpen(RedisConnectionError):
    """Redis is known to be down: the call was not sent."""


class Breaker:
    __slots__ = ("_open_until", "_probing", "cooldown", "timeout")

    def __init__(self, timeout: float | None, cooldown: float = 1.0) -> None:
        self.timeout = timeout
        self.cooldown = cooldown
        self._open_until = 0.0  # loop time; 0: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until > 0.0

    @contextlib.asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        now = asyncio.get_running_loop().time()
        probe = False
        if self._open_until:
            if now < self._open_until or self._probing:
                raise BreakerOpen("Redis is down (known from a recent failure); not sent")
            probe = self._probing = True
        try:
            if self.timeout is None:
                yield
            else:
                try:
                    async with deadline_after(self.timeout):
                        yield
                except TimeoutError:
                    raise RedisTimeoutError(
                        f"no reply from Redis within {self.timeout:g}s (fail-open deadline)"
                    ) from None
        except FAILURES:
            self._open_until = asyncio.get_running_loop().time() + self.cooldown
            raise
        else:
            self._open_until = 0.0
        finally:
            if probe:
                self._probing = False
