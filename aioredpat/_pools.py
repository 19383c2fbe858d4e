"""Connection pools that wait for a free connection instead of failing.

redis-py's ``ConnectionPool`` raises "Too many connections" past ``max_connections``; its
``BlockingConnectionPool`` waits, but takes an ``asyncio.Condition`` and a timeout on every
checkout and release, which cost about a quarter of the throughput of small commands
(measured while building ``benchmarks/bench_ratelimit.py``). These pools pay only a length
check while a connection is free; callers queue (first come, first served) only when every
connection is taken, and a release wakes the first of them.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

__all__ = ("WaitingConnectionPool", "WaitingSentinelConnectionPool")


class _WaitForConnection:
    """Mixin for a ``ConnectionPool`` subclass; ``timeout`` is how long a checkout may wait."""

    max_connections: int
    _in_use_connections: Any

    def __init__(self, *args: Any, timeout: float | None = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout = timeout
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        if not self._waiters and len(self._in_use_connections) < self.max_connections:
            try:
                return await super().get_connection(*args, **kwargs)  # type: ignore[misc,no-any-return]
            except MaxConnectionsError:
                pass  # taken between the check and the checkout: wait like everyone else
        return await self._get_connection_in_turn(args, kwargs)

    async def _get_connection_in_turn(self, args: Any, kwargs: Any) -> AbstractConnection:
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        woken = False
        while True:
            # newcomers queue behind waiters; a woken waiter goes ahead of everyone
            if (woken or not self._waiters) and len(
                self._in_use_connections
            ) < self.max_connections:
                try:
                    return await super().get_connection(*args, **kwargs)  # type: ignore[misc,no-any-return]
                except MaxConnectionsError:
                    pass
                except BaseException:
                    self._wake_next()  # this caller leaves; a free connection must not idle
                    raise
            woken = await self._wait_turn(loop, deadline, ahead=woken)

    async def _wait_turn(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None, *, ahead: bool
    ) -> bool:
        waiter: asyncio.Future[None] = loop.create_future()
        if ahead:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
        except BaseException as exc:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake_next()  # woken, but leaving: hand the turn to the next waiter
            if isinstance(exc, TimeoutError):
                raise RedisConnectionError(
                    f"no free connection within pool_timeout={self.timeout}s "
                    f"(max_connections={self.max_connections})"
                ) from None
            raise
        return True

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)  # type: ignore[misc]
        finally:
            if self._waiters:
                self._wake_next()


class WaitingConnectionPool(_WaitForConnection, ConnectionPool):
    """A standalone server's pool: bounded, and callers past the bound wait."""


class WaitingSentinelConnectionPool(_WaitForConnection, SentinelConnectionPool):
    """A Sentinel-managed master's pool: bounded, and callers past the bound wait."""
