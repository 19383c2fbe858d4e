"""What every limiter shares: one script call per check, the server's clock, waiting."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from .._checks import check_seconds
from .._executor import Arg, executor_for
from .._keys import KeyBuilder
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes, span, tracing
from .._types import Connection, Duration
from ..errors import ConfigurationError, RateLimitExceeded, ScriptError
from ._clock import ServerClock
from ._result import RateLimitResult

__all__ = ("Limiter",)


def _refuses_time(error: ScriptError) -> bool:
    return "non deterministic" in str(error.__cause__)


class Limiter:
    """Base of the limiters: subclasses say which script, which keys, which limit arguments.

    ``clock`` is for tests: a callable returning the current time in seconds, passed to the
    script instead of its reading ``TIME``. Production code leaves it out.
    """

    _script: LuaScript

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        limits: Sequence[tuple[int, float]],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._executor = executor_for(conn)
        self._keys = KeyBuilder(namespace)
        self._limit_args: tuple[Arg, ...] = tuple(arg for pair in limits for arg in pair)
        self._max_cost = min(limit for limit, _ in limits)
        self._clock = clock
        self._server_clock: ServerClock | None = None
        self._span_attrs = attributes(namespace=namespace)
        self._decisions = {
            allowed: attributes(namespace=namespace, allowed=str(allowed).lower())
            for allowed in (True, False)
        }

    def policies(self) -> list[tuple[int, float]]:
        """``(quota, window seconds)`` of each limit, as HTTP ``RateLimit-Policy`` states them."""
        raise NotImplementedError

    def _key_list(self, identifier: str | int) -> list[str]:
        raise NotImplementedError

    async def _now_arg(self) -> Arg:
        """The time to pass the script: "" (it reads TIME) unless injected or refused."""
        if self._clock is not None:
            return int(self._clock() * 1e6)
        if self._server_clock is not None:
            return await self._server_clock.now_us()
        return ""

    async def _check(self, identifier: str | int, cost: int, consume: str) -> RateLimitResult:
        if type(cost) is not int or not 1 <= cost <= self._max_cost:
            raise ConfigurationError(
                f"cost must be an int from 1 to {self._max_cost} (more could never pass), "
                f"got {cost!r}"
            )
        keys = self._key_list(identifier)
        plain = self._clock is None and self._server_clock is None
        args = ("" if plain else await self._now_arg(), cost, consume, *self._limit_args)
        try:
            reply = await self._executor.run_script(self._script, keys, args)
        except ScriptError as error:
            if not _refuses_time(error) or self._server_clock is not None:
                raise
            self._server_clock = ServerClock(self._executor)
            args = (await self._now_arg(), cost, consume, *self._limit_args)
            reply = await self._executor.run_script(self._script, keys, args)
        return RateLimitResult.from_reply(reply)

    async def hit(self, identifier: str | int, cost: int = 1) -> RateLimitResult:
        """Check and consume ``cost`` in one EVALSHA; never waits. A denied hit consumes nothing."""
        if tracing():
            with span("aioredpat.ratelimit.hit", self._span_attrs):
                result = await self._check(identifier, cost, "1")
        else:
            result = await self._check(identifier, cost, "1")
        if INSTRUMENTS is not None:
            INSTRUMENTS.ratelimit_decisions.add(1, self._decisions[result.allowed])
        return result

    async def peek(self, identifier: str | int, cost: int = 1) -> RateLimitResult:
        """What ``hit`` would answer now, consuming nothing (one EVALSHA)."""
        return await self._check(identifier, cost, "0")

    async def acquire(
        self, identifier: str | int, cost: int = 1, *, timeout: Duration | None = None
    ) -> RateLimitResult:
        """Wait until a hit is allowed, then return its result.

        Between tries it sleeps the ``retry_after`` the server gave (plus up to 10% jitter,
        so waiters do not come back in lockstep); it never polls. With ``timeout``, it
        raises ``RateLimitExceeded`` as soon as the next possible pass lies beyond it.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout, allow_zero=True)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            result = await self.hit(identifier, cost)
            if result.allowed:
                return result
            if deadline is not None and loop.time() + result.retry_after > deadline:
                raise RateLimitExceeded(
                    f"{identifier!r} not allowed within {timeout}s", retry_after=result.retry_after
                )
            await asyncio.sleep(result.retry_after * (1 + 0.1 * random.random()))

    async def reset(self, identifier: str | int) -> None:
        """Forget everything recorded for ``identifier`` (one DEL)."""
        await self._executor.execute("DEL", *self._key_list(identifier))
