"""Failing open: what a cache does while Redis is unreachable, in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from .._backoff import FAILURES
from .._breaker import Breaker

__all__ = ("FailOpen",)

log = logging.getLogger("aioredpat")


class FailOpen:
    """With ``enabled``, Redis failures are absorbed (one warning per outage) and reads go
    through a ``Breaker``: they give up after half the call deadline (the socket timeout),
    and skip Redis at once while it is known to be down. Without it, failures propagate."""

    __slots__ = ("_outage", "_owner", "breaker", "enabled")

    def __init__(self, owner: object, *, enabled: bool, call_timeout: float | None) -> None:
        self.enabled = enabled
        self._owner = owner
        self._outage = False
        self.breaker = (
            Breaker(None if call_timeout is None else call_timeout / 2) if enabled else None
        )

    def absorb(self, error: Exception) -> None:
        """Raise ``error``, or, failing open, warn (once per outage) and return."""
        if not self.enabled:
            raise error
        if not self._outage:
            self._outage = True
            log.warning("%r: Redis unreachable (%r); serving from the loader", self._owner, error)

    def recovered(self) -> None:
        self._outage = False

    @contextlib.asynccontextmanager
    async def skipping(self) -> AsyncIterator[None]:
        """A cache write that, failing open, is skipped while Redis is unreachable."""
        try:
            yield
        except FAILURES as error:
            self.absorb(error)
