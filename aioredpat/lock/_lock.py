"""``Lock``: a lease on one name, fenced, released on cancellation, handed off by notification."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import secrets
import sys
import weakref
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar, cast

import anyio

from .._backoff import FAILURES, Backoff
from .._checks import check_seconds
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace
from .._notify import Wakeup
from .._pools import deadline_after
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, Attributes, attributes, clock, span, tracing
from .._types import Connection, Duration
from ..errors import ConfigurationError, LockLost, LockNotAcquired, LockNotOwned

__all__ = ("Lock", "LockBase", "LockLease", "check_ttl")

log = logging.getLogger("aioredpat")

ACQUIRE = LuaScript("lock_acquire")
RELEASE = LuaScript("lock_release")
EXTEND = LuaScript("lock_extend")
ABANDON = LuaScript("lock_abandon")

_UNSET: Any = object()

Acquire = TypeVar("Acquire", bound=Callable[..., Awaitable["LockLease"]])


def observed(acquire: Acquire) -> Acquire:
    """``acquire`` recorded: its wait as ``aioredpat.lock.wait.duration`` (acquired or
    given up), in an ``aioredpat.lock.acquire`` span while tracing."""

    @functools.wraps(acquire)
    async def observed_acquire(self: LockBase, *, blocking_timeout: Any = _UNSET) -> LockLease:
        if INSTRUMENTS is None and not tracing():
            return await acquire(self, blocking_timeout=blocking_timeout)
        started = clock()
        try:
            if tracing():
                with span("aioredpat.lock.acquire", self._telemetry_attrs):
                    return await acquire(self, blocking_timeout=blocking_timeout)
            return await acquire(self, blocking_timeout=blocking_timeout)
        finally:
            if INSTRUMENTS is not None:
                INSTRUMENTS.lock_wait.record(clock() - started, self._telemetry_attrs)

    return cast(Acquire, observed_acquire)


def telemetry_attributes(namespace: str, name: str, name_in_metrics: bool) -> Attributes:
    """A lock's metric attributes: its namespace, and its name only when asked for (a lock
    per invoice id would make one time series per invoice)."""
    if name_in_metrics:
        return attributes(namespace=namespace, name=name)
    return attributes(namespace=namespace)


QUEUE_STAY_MS = 2000  # a queued waiter tries again at least every half of this


def check_ttl(
    name: str, value: object, *, allow_none: bool = False, allow_zero: bool = False
) -> Any:
    """A lock duration: seconds or a ``timedelta``, at least a millisecond (Redis' unit)."""
    if value is None and allow_none:
        return None
    return check_seconds(name, value, allow_zero=allow_zero, minimum=0.001)


def _cancelling(task: asyncio.Task[Any]) -> bool:
    """Whether a cancellation (asyncio's, or an anyio scope's) is pending on ``task``."""
    return sys.version_info < (3, 11) or task.cancelling() > 0


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class LockLease:
    """One acquisition of a lock: its own token, its fencing token, and its release.

    ``fencing_token`` increases strictly over successive acquisitions of one name: pass it
    with every write the lock protects, and have the store reject a write whose token is
    lower than one it has already seen.
    """

    name: str
    fencing_token: int
    token: str = dataclasses.field(repr=False)
    lock: LockBase = dataclasses.field(repr=False)

    async def release(self) -> None:
        """Give the lock up (one EVALSHA, waking the waiters); ``LockNotOwned`` if it was lost."""
        await self.lock._release(self)

    async def extend(self, ttl: Duration | None = None) -> None:
        """Hold the lock ``ttl`` more seconds from now (the lock's ttl by default).

        Raises ``LockNotOwned`` when the lease already expired or was taken over.
        """
        await self.lock._extend(self, ttl)


@dataclasses.dataclass(slots=True)
class _Block:
    """The state of one ``async with lock:`` block (kept per task, never on the lock)."""

    lease: LockLease
    task: asyncio.Task[Any]
    watchdog: asyncio.Task[None] | None = None
    lost: bool = False


class LockBase:
    """What ``Lock`` and ``Redlock`` share: ``async with``, release on exit, the watchdog.

    Subclasses provide ``acquire()``, ``_release(lease)`` and ``_extend(lease, ttl)``.
    """

    name: str
    ttl: float
    auto_extend: bool
    release_timeout: float
    _telemetry_attrs: Attributes
    _blocks: weakref.WeakKeyDictionary[asyncio.Task[Any], list[_Block]]
    _cleanups: set[asyncio.Task[Any]]

    def _init_blocks(self) -> None:
        self._blocks = weakref.WeakKeyDictionary()
        self._cleanups = set()

    async def acquire(self, *, blocking_timeout: Duration | None = _UNSET) -> LockLease:
        raise NotImplementedError

    async def _release(self, lease: LockLease) -> None:
        raise NotImplementedError

    async def _extend(self, lease: LockLease, ttl: Duration | None) -> None:
        raise NotImplementedError

    def _in_background(self, coroutine: Any) -> None:
        """Run clean-up that must finish even though its caller could not wait for it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._cleanups.add(task)  # referenced until done; failures are logged inside
        task.add_done_callback(self._cleanups.discard)

    async def __aenter__(self) -> LockLease:
        lease = await self.acquire()
        task = asyncio.current_task()
        assert task is not None
        block = _Block(lease, task)
        if self.auto_extend:
            block.watchdog = asyncio.get_running_loop().create_task(self._watch(block))
        self._blocks.setdefault(task, []).append(block)
        return lease

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        block = self._blocks[task].pop()
        if not self._blocks[task]:
            del self._blocks[task]
        if block.watchdog is not None:
            block.watchdog.cancel()
        if exc is None and not _cancelling(task):
            released = await self._release_directly(block.lease)  # the common, clean exit
        else:
            released = await self._release_on_exit(block.lease)
        if block.lost:
            if isinstance(exc, asyncio.CancelledError) and sys.version_info >= (3, 11):
                if task.uncancel() > 0:
                    return  # cancelled from elsewhere too: let that cancellation go on
            if INSTRUMENTS is not None:
                INSTRUMENTS.lock_lost.add(1, self._telemetry_attrs)
            raise LockLost(
                f"lock {self.name!r} was lost while its block ran", name=self.name
            ) from exc
        if not released and exc is None:
            raise LockNotOwned(
                f"lock {self.name!r} expired before its block ended (ttl {self.ttl}s)",
                name=self.name,
            )

    async def _release_directly(self, lease: LockLease) -> bool:
        """Release on a clean exit: nothing to shield from, unless a cancellation lands now."""
        try:
            await lease.release()
        except LockNotOwned:
            return False
        except asyncio.CancelledError:
            self._in_background(self._release_quietly(lease))  # finish it; let the cancel go on
            raise
        return True

    async def _release_on_exit(self, lease: LockLease) -> bool:
        """Release, shielded and bounded by ``release_timeout``; False when it was not held."""
        released = True
        try:
            with anyio.CancelScope(shield=True):
                released = await self._release_quietly(lease)
        except asyncio.CancelledError:
            # a second, native cancellation reached the shielded release: finish it anyway
            self._in_background(self._release_quietly(lease))
            raise
        return released

    async def _release_quietly(self, lease: LockLease) -> bool:
        with anyio.move_on_after(self.release_timeout) as scope:
            try:
                await lease.release()
            except LockNotOwned:
                return False
            except Exception as error:
                log.warning("lock %r: release failed (%r); it expires in %ss",
                            self.name, error, self.ttl)  # fmt: skip
        if scope.cancelled_caught:
            log.warning("lock %r: release timed out; it expires in %ss", self.name, self.ttl)
        return True

    async def _watch(self, block: _Block) -> None:
        """Extend every ttl/3; cancel the body once the lease is gone or unreachable for a ttl."""
        loop = asyncio.get_running_loop()
        last_success = loop.time()
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await block.lease.extend()
                last_success = loop.time()
                continue
            except LockNotOwned:
                pass
            except Exception as error:
                if loop.time() - last_success < self.ttl:
                    log.warning("lock %r: extension failed (%r); retrying", self.name, error)
                    continue
            block.lost = True
            block.task.cancel(f"lock {self.name!r} lost")
            return


class Lock(LockBase):
    _ACQUIRE = ACQUIRE
    _RELEASE = RELEASE
    _EXTEND = EXTEND
    _ABANDON = ABANDON
    _KEY_PART = "held"

    """A distributed lock on ``name`` with leases of ``ttl`` seconds.

    ``async with lock as lease:`` acquires (waiting up to ``blocking_timeout``; ``None``
    waits as long as it takes, ``0`` tries once) and releases when the block ends, also
    when it is cancelled. ``lease = await lock.acquire()`` does the same by hand.

    Keys (one hash tag per name): ``<namespace>:{<name>}:held`` (the holder's token, with
    the lease's TTL), ``...:fence`` (the fencing counter, kept without TTL on purpose), and
    ``...:abandoned`` (tokens of cancelled acquisitions, with TTL), and while anyone waits
    ``...:queue`` and ``...:alive`` (the waiters in arrival order and their liveness, with
    TTL). Waiters are served first come, first served: a release hands the lock straight to
    the first live waiter and tells it on its own channel,
    ``<namespace>:{<name>}:released:<token>``, so no other waiter wakes. Waiters also try
    again at the holder's expiry and at least every second.

    ``auto_extend=True`` runs a watchdog that extends the lease every ``ttl / 3`` while the
    ``async with`` body runs; if the lease is lost anyway, the body is cancelled and
    ``LockLost`` is raised from the block.

    ``replicas=N`` (for deployments that fail over) sends ``WAIT N`` with each acquisition,
    on the same connection: an acquisition that fewer than ``N`` replicas acknowledged
    within ``replica_timeout`` is given back and ``LockNotAcquired`` is raised, so a lease
    is only handed out once a failover could not lose it.
    """

    _ACQUIRE = ACQUIRE
    _RELEASE = RELEASE
    _EXTEND = EXTEND
    _ABANDON = ABANDON
    _KEY_PART = "held"

    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        ttl: Duration,
        blocking_timeout: Duration | None = None,
        auto_extend: bool = False,
        namespace: str = "lock",
        release_timeout: Duration = 5.0,
        replicas: int = 0,
        replica_timeout: Duration = 0.1,
        name_in_metrics: bool = False,
    ) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ConfigurationError(f"replicas must be an int >= 0, got {replicas!r}")
        self.replicas = replicas
        self._replica_timeout_ms = max(
            1, round(check_ttl("replica_timeout", replica_timeout) * 1000)
        )
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.ttl = check_ttl("ttl", ttl)
        if self.ttl < 0.001:
            raise ConfigurationError(f"ttl must be at least a millisecond, got {ttl!r}")
        self.blocking_timeout = check_ttl(
            "blocking_timeout", blocking_timeout, allow_none=True, allow_zero=True
        )
        self.auto_extend = bool(auto_extend)
        self.release_timeout = check_ttl("release_timeout", release_timeout)
        self._executor = executor_for(conn)
        keys = KeyBuilder(check_namespace(namespace))
        self._telemetry_attrs = telemetry_attributes(namespace, name, name_in_metrics)
        self._key = keys.key(name, self._KEY_PART)
        abandoned = keys.key(name, "abandoned")
        queue, alive = keys.key(name, "queue"), keys.key(name, "alive")
        self._acquire_keys: tuple[str, ...] = (
            self._key, keys.key(name, "fence"), abandoned, queue, alive
        )  # fmt: skip
        self._release_keys: tuple[str, ...] = (self._key, self._acquire_keys[1], queue, alive)
        self._abandon_keys: tuple[str, ...] = (self._key, abandoned, queue, alive)
        self._channel = keys.key(name, "released")
        self._ttl_ms = max(1, round(self.ttl * 1000))
        self._init_blocks()

    def __repr__(self) -> str:
        return f"Lock({self.name!r}, ttl={self.ttl})"

    async def locked(self) -> bool:
        """Whether anyone holds the lock now (one EXISTS)."""
        return bool(await self._executor.execute("EXISTS", self._key))

    @observed
    async def acquire(self, *, blocking_timeout: Duration | None = _UNSET) -> LockLease:
        """Take the lock, waiting up to ``blocking_timeout`` seconds; a new lease each time.

        Uncontended: one EVALSHA. Contended: subscribe to the release channel, then try
        again on every release and at the holder's expiry. A cancelled or failed acquire
        never leaves the lock held by a token nobody knows.
        """
        timeout = (
            self.blocking_timeout
            if blocking_timeout is _UNSET
            else check_ttl("blocking_timeout", blocking_timeout, allow_none=True, allow_zero=True)
        )
        token = secrets.token_hex(16)
        if timeout == 0:
            try:
                fence, _ = await self._try(token, 0)
            except Exception:
                # the script may have run: undo it, in the background (Redis is failing, and
                # the caller must not wait for the clean-up's own timeout as well)
                self._in_background(self._abandon(token))
                raise
            if fence is None:
                raise LockNotAcquired(f"lock {self.name!r} is held", name=self.name)
            return LockLease(self.name, fence, token, self)
        with contextlib.suppress(*FAILURES):  # Redis down: wait for it below, as for a holder
            fence, _ = await self._try(token, 0)
            if fence is not None:
                return LockLease(self.name, fence, token, self)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with self._executor.notifier.listen(self._wait_channel(token), token) as wakeup:
                return await self._wait(token, wakeup, deadline, waited_for=timeout)
        except BaseException:
            await self._abandon(token)  # leave the queue; if it was our turn, pass it on
            raise

    async def _wait(
        self, token: str, wakeup: Wakeup, deadline: float | None, *, waited_for: float | None
    ) -> LockLease:
        """Try on every wake-up (a release, the holder's expiry, a second at most) until the
        lock is ours or ``deadline`` passes. Redis failing meanwhile (a restart, a failover)
        is waited out with backoff: only the deadline ends the wait."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(first=0.05, cap=1.0)
        failure: Exception | None = None
        while True:
            if wakeup.payload is not None:  # a release handed the lock to us
                return LockLease(self.name, int(wakeup.payload.split()[1]), token, self)
            wakeup.event.clear()
            try:
                # again after subscribing (a release may predate it); this also queues us
                fence, wait = await self._try(token, QUEUE_STAY_MS)
            except FAILURES as error:
                if failure is None:
                    log.warning(
                        "lock %r: Redis failed while waiting (%r); trying again "
                        "until the blocking timeout", self.name, error,
                    )  # fmt: skip
                failure, wait = error, backoff.next()
            else:
                if fence is not None:
                    return LockLease(self.name, fence, token, self)
                failure = None
                backoff.reset()
                wait = min(wait, QUEUE_STAY_MS / 2000)  # stay alive in the queue
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    why = f"Redis failing ({failure!r})" if failure else "still held"
                    raise LockNotAcquired(
                        f"lock {self.name!r}: {why} after {waited_for}s", name=self.name
                    ) from failure
                wait = min(wait, left)
            with contextlib.suppress(TimeoutError):
                async with deadline_after(wait):  # lighter than an anyio scope
                    await wakeup.event.wait()

    async def _try(self, token: str, stay_ms: int) -> tuple[int | None, float]:
        """One attempt: (fencing token, 0) or (None, seconds to wait at most).

        ``stay_ms`` > 0 queues the caller as a waiter for that long if the lock is taken.
        """
        try:
            if self.replicas:
                taken, value = await self._acquire_acknowledged(token, stay_ms)
            else:
                taken, value = await self._executor.run_script(
                    self._ACQUIRE, self._acquire_keys, self._acquire_args(token, stay_ms)
                )
        except asyncio.CancelledError:
            # cancelled mid-flight: the script may have run, so undo it before leaving (a
            # failure is left to the caller: it tries again with this token, or abandons it)
            await self._abandon(token)
            raise
        if taken:
            return int(value), 0.0
        return None, max(value, 1) / 1000  # -2 (just expired), -1 (abandoned): try again soon

    async def _acquire_acknowledged(self, token: str, stay_ms: int) -> tuple[int, int]:
        """Acquire and WAIT for replicas in one pipeline (WAIT covers its own connection)."""
        batch = self._executor.batch()
        batch.script(self._ACQUIRE, self._acquire_keys, self._acquire_args(token, stay_ms))
        options: dict[str, Any] = {}
        if self._executor.is_cluster:
            options["target_nodes"] = self._executor.client.get_node_from_key(self._key)  # type: ignore[union-attr]
        batch.command("WAIT", self.replicas, self._replica_timeout_ms, **options)
        (taken, value), acknowledged = await batch.execute()
        if taken and acknowledged < self.replicas:
            await self._executor.run_script(
                self._RELEASE, self._release_keys, (token, self._channel)
            )
            raise LockNotAcquired(
                f"lock {self.name!r}: {acknowledged} of {self.replicas} replicas acknowledged "
                f"within {self._replica_timeout_ms} ms",
                name=self.name,
            )
        return taken, value

    def _acquire_args(self, token: str, stay_ms: int) -> tuple[str | int, ...]:
        return (token, self._ttl_ms, stay_ms)

    def _wait_channel(self, token: str) -> str:
        """Each waiter has its own channel, so a release wakes only the one it hands off to."""
        return f"{self._channel}:{token}"

    async def _abandon(self, token: str) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.release_timeout):
            try:
                args = (token, self._ttl_ms, self._channel)
                await self._executor.run_script(self._ABANDON, self._abandon_keys, args)
            except Exception as error:
                log.warning(
                    "lock %r: giving back an unfinished acquire failed (%r); "
                    "whatever it took expires in %ss",
                    self.name,
                    error,
                    self.ttl,
                )

    async def _release(self, lease: LockLease) -> None:
        args = (lease.token, self._channel)
        if not await self._executor.run_script(self._RELEASE, self._release_keys, args):
            raise LockNotOwned(
                f"lock {self.name!r} was no longer held by this lease", name=self.name
            )

    async def _extend(self, lease: LockLease, ttl: Duration | None) -> None:
        ttl_ms = self._ttl_ms if ttl is None else max(1, round(check_ttl("ttl", ttl) * 1000))
        if not await self._executor.run_script(self._EXTEND, (self._key,), (lease.token, ttl_ms)):
            raise LockNotOwned(
                f"lock {self.name!r} was no longer held by this lease", name=self.name
            )
