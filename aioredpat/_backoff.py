"""Retrying after failures: which errors are worth a retry, and how long to wait between."""

from __future__ import annotations

import random

import anyio
from redis.exceptions import RedisError

__all__ = ("FAILURES", "Backoff")

FAILURES = (RedisError, OSError)  # worth a retry: the server or the network failed


class Backoff:
    """Capped exponential backoff with jitter, for retrying after failures."""

    __slots__ = ("cap", "delay", "first")

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first = self.delay = first
        self.cap = cap

    def next(self) -> float:
        """The next wait, in seconds (between half and one and a half times the delay)."""
        wait = self.delay * (0.5 + random.random())
        self.delay = min(self.delay * 2, self.cap)
        return wait

    async def sleep(self) -> None:
        await anyio.sleep(self.next())

    def reset(self) -> None:
        self.delay = self.first
