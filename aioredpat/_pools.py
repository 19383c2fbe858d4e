"""Connection pools that wait for a free connection instead of failing, and connections
whose writes keep a caller's cancellation.

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
import contextlib
import logging
import sys
import weakref
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline_after
else:  # redis-py depends on async-timeout there
    from async_timeout import timeout as _async_timeout  # type: ignore[import-not-found,unused-ignore]

    @contextlib.asynccontextmanager
    async def deadline_after(delay: float | None) -> AsyncIterator[None]:
        """``asyncio.timeout`` for Python 3.10, raising the built-in ``TimeoutError`` as
        3.11+ does (3.10's ``asyncio.TimeoutError`` is another class)."""
        try:
            async with _async_timeout(delay):
                yield
        except asyncio.TimeoutError:
            raise TimeoutError from None


log = logging.getLogger("aioredpat")

__all__ = (
    "CONNECTION_CLASSES",
    "DeadlineConnection",
    "WaitingConnectionPool",
    "WaitingSentinelConnectionPool",
    "deadline_after",
)


SMALL_WRITE = 16 * 1024  # below asyncio's default high-water mark (64 KiB)


class _ReadWatchdog:
    """Bounds reads of one event loop by ``socket_timeout`` with a single ticking timer.

    redis-py wraps every read in ``asyncio.timeout(socket_timeout)``: a timer armed and
    cancelled per command, a measurable share of a cache hit's client time. Here a read
    only records its deadline; one timer per loop, armed while reads are outstanding,
    fires every ``TICK`` seconds and aborts the transport of a read past its deadline (which
    then fails as a ``TimeoutError``). Deadlines are kept to within a tick. A timer, not a
    task: nothing is left pending when the loop closes with reads outstanding.
    """

    TICK = 0.25

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.deadlines: dict[Any, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, connection: Any, timeout: float) -> None:
        self.deadlines[connection] = self._loop.time() + timeout
        if self._timer is None:
            self._timer = self._loop.call_later(self.TICK, self._tick)

    def _tick(self) -> None:
        self._timer = None
        now = self._loop.time()
        for connection, deadline in list(self.deadlines.items()):
            if deadline <= now:
                del self.deadlines[connection]
                try:
                    connection._expire_read()
                except Exception:  # one broken connection must not stop the others' bounds
                    log.exception("aborting an overdue read failed")
        if self.deadlines:
            self._timer = self._loop.call_later(self.TICK, self._tick)


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ReadWatchdog] = (
    weakref.WeakKeyDictionary()
)


def _watchdog() -> _ReadWatchdog:
    loop = asyncio.get_running_loop()
    found = _watchdogs.get(loop)
    if found is None:
        found = _watchdogs[loop] = _ReadWatchdog(loop)
    return found


class _DeadlineWrites:
    """Reads and writes bounded by ``socket_timeout`` without ``asyncio.wait_for``.

    On Python 3.11 and older, ``asyncio.wait_for`` loses a cancellation that arrives just as
    the operation it wraps completes (the 3.12 rewrite fixed it). redis-py bounds every write
    with it, so a task cancelled while its command is being sent carries on as if nothing
    happened: a timeout that never fires, a lock cleanup that never runs. Here a write that
    cannot wait (connected, room in the transport's buffer) takes no timer at all, and one
    that can is bounded by a deadline, which lets the cancellation through. Reads are
    bounded by the loop's ``_ReadWatchdog``. The timeout lives in ``io_timeout``;
    redis-py's own ``socket_timeout`` is kept at ``None`` so that it arms no timers.
    """

    socket_timeout: float | None
    io_timeout: float | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.io_timeout = self.socket_timeout
        self.socket_timeout = None
        self._read_expired = False

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        timeout = self.io_timeout
        if not timeout:
            return await super().send_packed_command(command, check_health)  # type: ignore[misc,no-any-return]
        if not isinstance(command, bytes | str | list):
            command = list(command)  # measured, then sent
        if self._write_cannot_wait(command):
            return await super().send_packed_command(command, check_health)  # type: ignore[misc,no-any-return]
        try:
            async with deadline_after(timeout):
                await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except TimeoutError:
            # redis-py's send path has already closed the connection on the cancellation
            # the send includes redis-py's health check (a PING and its reply), so this is a
            # server that stopped answering as often as a full socket buffer
            raise RedisTimeoutError(
                f"Timeout sending a command (or its health-check PING) after {timeout}s"
            ) from None

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        timeout = self.io_timeout
        if not timeout or kwargs.get("timeout") is not None or len(args) > 1:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        watchdog = _watchdog()
        watchdog.watch(self, timeout)
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except RedisConnectionError:
            if self._read_expired:
                raise RedisTimeoutError(
                    f"Timeout reading from the server after {timeout}s"
                ) from None
            raise
        finally:
            watchdog.deadlines.pop(self, None)
            self._read_expired = False

    async def read_responses(self, count: int) -> list[Any]:
        """``count`` replies, each its value or its ``ResponseError``, under one watch: the
        read of a pipeline of reads, where a timer per reply would cost more than parsing."""
        timeout = self.io_timeout
        watchdog = _watchdog() if timeout else None
        if watchdog is not None:
            watchdog.watch(self, timeout)  # type: ignore[arg-type]
        try:
            return [await self._reply() for _ in range(count)]
        except RedisConnectionError:
            if self._read_expired:
                raise RedisTimeoutError(
                    f"Timeout reading from the server after {timeout}s"
                ) from None
            raise
        finally:
            if watchdog is not None:
                watchdog.deadlines.pop(self, None)
                self._read_expired = False

    async def _reply(self) -> Any:
        try:
            return await super().read_response()  # type: ignore[misc]
        except ResponseError as error:
            return error

    def _expire_read(self) -> None:
        writer = getattr(self, "_writer", None)
        if writer is not None:
            self._read_expired = True
            writer.transport.abort()

    def _write_cannot_wait(self, command: Any) -> bool:
        """Whether this write completes without waiting, so that it needs no deadline:
        connected, no health check due (its PING waits for a reply), and room in the
        transport's buffer, so that ``drain()`` returns at once."""
        writer = getattr(self, "_writer", None)
        if writer is None or not getattr(self, "is_connected", False):
            return False
        interval = getattr(self, "health_check_interval", 0)
        if interval and asyncio.get_running_loop().time() > getattr(self, "next_health_check", 0):
            return False
        if writer.transport.get_write_buffer_size():
            return False  # data still queued: this write may be what pauses the transport
        size = len(command) if isinstance(command, bytes | str) else sum(map(len, command))
        return size <= SMALL_WRITE


class DeadlineConnection(_DeadlineWrites, Connection):
    """TCP connection (see ``_DeadlineWrites``)."""


class DeadlineSSLConnection(_DeadlineWrites, SSLConnection):
    """TLS connection (see ``_DeadlineWrites``)."""


class DeadlineUnixConnection(_DeadlineWrites, UnixDomainSocketConnection):
    """Unix socket connection (see ``_DeadlineWrites``)."""


class DeadlineSentinelConnection(_DeadlineWrites, SentinelManagedConnection):
    """A Sentinel-managed master's connection (see ``_DeadlineWrites``)."""


CONNECTION_CLASSES = {
    "redis": DeadlineConnection,
    "rediss": DeadlineSSLConnection,
    "unix": DeadlineUnixConnection,
}


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
                async with deadline_after(max(0.0, deadline - loop.time())):
                    await waiter
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

    _available_connections: Any

    def take_idle(self) -> AbstractConnection | None:
        """An idle, connected connection checked out without awaiting, or ``None``.

        redis-py 7's checkout takes a lock, records metrics and polls the socket for stray
        data, several awaits per command. For an idempotent read (a cache GET) that is not
        needed: every reply on a pooled connection has been read (a read cut short closes
        the connection), and a connection the server closed meanwhile fails the read,
        which the caller then retries on the full path. Give it back with ``put_back``.
        """
        if self._waiters or not self._available_connections:
            return None
        if len(self._in_use_connections) >= self.max_connections:
            return None
        connection = self._available_connections[-1]
        reconnect = getattr(connection, "should_reconnect", None)
        if not getattr(connection, "is_connected", False) or (reconnect and reconnect()):
            return None
        self._available_connections.pop()
        self._in_use_connections.add(connection)
        return connection  # type: ignore[no-any-return]

    def put_back(self, connection: AbstractConnection) -> None:
        """Return a connection taken with ``take_idle``."""
        self._in_use_connections.discard(connection)
        self._available_connections.append(connection)
        if self._waiters:
            self._wake_next()

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
