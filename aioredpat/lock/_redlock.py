"""``Redlock``: one lock over several independent Redis masters, held by a majority."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._executor import Executor, executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError, LockNotAcquired, LockNotOwned
from ._lock import (
    _UNSET,
    ABANDON,
    ACQUIRE,
    EXTEND,
    RELEASE,
    LockBase,
    LockLease,
    check_ttl,
    observed,
    telemetry_attributes,
)  # fmt: skip

__all__ = ("Redlock",)

log = logging.getLogger("aioredpat")

FENCE_FLOOR = LuaScript("lock_fence_floor")


class Redlock(LockBase):
    """The Redlock algorithm over ``conns``, a list of independent masters (not a cluster).

    An acquisition asks every master at once and holds the lock only if a majority said yes
    within the lease's validity (``ttl`` minus the time taken minus the allowed clock
    drift, ``drift_factor * ttl + 2 ms``). A reply counts whenever it arrives within that
    budget: only a "no", a failed connection, or silence for the whole budget is a no, so a
    stalled event loop or one slow master never turns a yes into a no. Otherwise it gives
    back what it took everywhere and retries after a random delay of up to ``retry_delay``.

    Fencing: the token is the largest counter among the majority's replies, and a majority
    of masters must confirm that their counter was raised to it before the lease is handed
    out; any two majorities share a master, so tokens increase strictly. Extensions need a
    majority's yes; releases go to every master. ``LockNotOwned`` is raised only when enough
    masters answered "not held" that no majority can hold the lease; when masters cannot be
    reached the error met is raised instead (the lease expires by itself).

    Same interface as ``Lock``: ``async with``, ``acquire()``, ``lease.release()``,
    ``lease.extend()``, ``locked()``.
    """

    def __init__(
        self,
        conns: Sequence[Connection],
        name: str,
        *,
        ttl: Duration,
        blocking_timeout: Duration | None = None,
        auto_extend: bool = False,
        namespace: str = "lock",
        retry_delay: Duration = 0.2,
        drift_factor: float = 0.01,
        release_timeout: Duration = 5.0,
        name_in_metrics: bool = False,
    ) -> None:
        if not isinstance(conns, Sequence) or len(conns) < 1:
            raise ConfigurationError("conns must be a list of one or more independent masters")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.ttl = check_ttl("ttl", ttl)
        self.blocking_timeout = check_ttl(
            "blocking_timeout", blocking_timeout, allow_none=True, allow_zero=True
        )
        self.auto_extend = bool(auto_extend)
        self.release_timeout = check_ttl("release_timeout", release_timeout)
        self.retry_delay = check_ttl("retry_delay", retry_delay, allow_zero=True)
        if not 0 <= drift_factor < 0.5:
            raise ConfigurationError(f"drift_factor must be in [0, 0.5), got {drift_factor!r}")
        self.drift = drift_factor * self.ttl + 0.002
        if self.ttl - self.drift < 0.005:
            raise ConfigurationError(
                f"ttl={ttl!r} leaves no time to hold the lock once clock drift "
                f"({self.drift:.4f}s) is allowed for: use a ttl of at least 0.01s"
            )
        self._executors = [executor_for(conn) for conn in conns]
        self.quorum = len(self._executors) // 2 + 1
        keys = KeyBuilder(check_namespace(namespace))
        self._telemetry_attrs = telemetry_attributes(namespace, name, name_in_metrics)
        self._key = keys.key(name, "held")
        self._fence_key = keys.key(name, "fence")
        abandoned = keys.key(name, "abandoned")
        queue, alive = keys.key(name, "queue"), keys.key(name, "alive")
        self._acquire_keys = (self._key, self._fence_key, abandoned, queue, alive)
        self._release_keys = (self._key, self._fence_key, queue, alive)
        self._abandon_keys = (self._key, abandoned, queue, alive)
        self._channel = keys.key(name, "released")
        self._ttl_ms = max(1, round(self.ttl * 1000))
        self._init_blocks()
        # an acquisition's calls still out once it was decided, by token: a release or an
        # abandonment of that token waits for them, so it lands after them on every master
        self._stragglers: dict[str, set[asyncio.Task[Any]]] = {}

    def __repr__(self) -> str:
        return f"Redlock({self.name!r}, ttl={self.ttl}, masters={len(self._executors)})"

    async def _on_each(
        self,
        script: LuaScript,
        keys: Sequence[str],
        args: Sequence[Any],
        *,
        within: float,
        decided: Callable[[list[Any]], bool],
        executors: Sequence[Executor] | None = None,
        token: str | None = None,
    ) -> list[Any]:
        """Run ``script`` on every master at once and collect the replies until ``decided``
        says the outcome is settled or ``within`` seconds have passed. A master that failed
        gives its exception; one that has not answered yet gives ``NO_ANSWER``. Calls still
        out then run on in the background: their effect is undone by the release or the
        abandonment that follows, never cut off half way."""
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(_reply_of(executor, script, keys, args))
            for executor in executors or self._executors
        ]
        replies: list[Any] = [NO_ANSWER] * len(tasks)
        position = {task: i for i, task in enumerate(tasks)}
        pending = set(tasks)
        deadline = loop.time() + within
        try:
            while pending and not decided(replies):
                left = deadline - loop.time()
                if left <= 0:
                    break
                done, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    replies[position[task]] = task.result()
        finally:
            for task in pending:  # referenced until done; _reply_of never raises
                self._cleanups.add(task)
                task.add_done_callback(self._cleanups.discard)
            if pending and token is not None:
                stragglers = self._stragglers.setdefault(token, set())
                stragglers.update(pending)
                for task in pending:
                    task.add_done_callback(stragglers.discard)
        return replies

    async def _after_stragglers(self, token: str) -> None:
        """Wait (up to ``release_timeout``) for the acquisition calls of ``token`` still out."""
        stragglers = self._stragglers.pop(token, None)
        if stragglers:
            await asyncio.wait(set(stragglers), timeout=self.release_timeout)

    def _majority_decides(
        self, yes: Callable[[Any], bool], *, failures_are_no: bool
    ) -> Callable[[list[Any]], bool]:
        """``decided`` for ``_on_each``: a majority said yes, or so many said no that none can."""
        quorum, total = self.quorum, len(self._executors)

        def decided(replies: list[Any]) -> bool:
            ayes = sum(1 for r in replies if r is not NO_ANSWER and yes(r))
            noes = sum(1 for r in replies if _is_no(r, yes, failures_are_no=failures_are_no))
            return ayes >= quorum or noes > total - quorum

        return decided

    async def locked(self) -> bool:
        """Whether a majority of masters reports the lock held."""
        found = await asyncio.gather(
            *(e.execute("EXISTS", self._key) for e in self._executors), return_exceptions=True
        )
        return sum(1 for f in found if f == 1) >= self.quorum

    @observed
    async def acquire(self, *, blocking_timeout: Duration | None = _UNSET) -> LockLease:
        timeout = (
            self.blocking_timeout
            if blocking_timeout is _UNSET
            else check_ttl("blocking_timeout", blocking_timeout, allow_none=True, allow_zero=True)
        )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            lease = await self._attempt(loop)
            if lease is not None:
                return lease
            if deadline is not None and loop.time() >= deadline:
                raise LockNotAcquired(
                    f"redlock {self.name!r}: no majority within {timeout}s", name=self.name
                )
            await asyncio.sleep(random.uniform(0, self.retry_delay))

    async def _attempt(self, loop: asyncio.AbstractEventLoop) -> LockLease | None:
        token = secrets.token_hex(16)
        started = loop.time()
        budget = self.ttl - self.drift
        try:
            replies = await self._on_each(
                ACQUIRE, self._acquire_keys, (token, self._ttl_ms), within=budget,
                decided=self._majority_decides(_taken, failures_are_no=True), token=token,
            )  # fmt: skip
            held = [e for e, r in zip(self._executors, replies, strict=True) if _taken(r)]
            if len(held) >= self.quorum and loop.time() - started < budget:
                fence = max(int(r[1]) for r in replies if _taken(r))
                raised = await self._raise_fences(fence, held, budget - (loop.time() - started))
                if raised and self.ttl - (loop.time() - started) - self.drift > 0:
                    return LockLease(self.name, fence, token, self)
        except BaseException:
            self._in_background(self._abandon_everywhere(token))
            raise
        # no majority in time: give back what was taken, and make late arrivals refuse
        self._in_background(self._abandon_everywhere(token))
        return None

    async def _raise_fences(self, fence: int, held: Sequence[Executor], within: float) -> bool:
        """Raise the fencing counter of the masters held to ``fence``; True once a majority
        of masters confirmed it (so the next majority, which shares one, issues more)."""
        if within <= 0:
            return False
        replies = await self._on_each(
            FENCE_FLOOR, (self._fence_key,), (fence,), within=within, executors=held,
            decided=lambda rs: sum(1 for r in rs if _at_least(r, fence)) >= self.quorum,
        )  # fmt: skip
        return sum(1 for r in replies if _at_least(r, fence)) >= self.quorum

    async def _abandon_everywhere(self, token: str) -> None:
        with anyio.move_on_after(self.release_timeout):
            await self._after_stragglers(token)
            await self._on_each(
                ABANDON, self._abandon_keys, (token, self._ttl_ms, self._channel),
                within=self.release_timeout, decided=lambda rs: NO_ANSWER not in rs,
            )  # fmt: skip

    async def _release(self, lease: LockLease) -> None:
        await self._after_stragglers(lease.token)
        replies = await self._on_each(
            RELEASE, self._release_keys, (lease.token, self._channel),
            within=self.release_timeout, decided=lambda rs: NO_ANSWER not in rs,
        )  # fmt: skip
        self._majority_or_raise(replies, "release")

    async def _extend(self, lease: LockLease, ttl: Duration | None) -> None:
        ttl_ms = self._ttl_ms if ttl is None else max(1, round(check_ttl("ttl", ttl) * 1000))
        replies = await self._on_each(
            EXTEND, (self._key,), (lease.token, ttl_ms), within=self.ttl - self.drift,
            decided=self._majority_decides(_is_one, failures_are_no=False),
        )  # fmt: skip
        self._majority_or_raise(replies, "extend")

    def _majority_or_raise(self, replies: list[Any], what: str) -> None:
        """Return if a majority said yes; ``LockNotOwned`` if enough said "not held" that no
        majority can; else the error met (unreachable masters: the lease is not known lost)."""
        if sum(1 for r in replies if _is_one(r)) >= self.quorum:
            return
        noes = sum(1 for r in replies if _is_no(r, _is_one, failures_are_no=False))
        if noes > len(self._executors) - self.quorum:
            raise LockNotOwned(
                f"redlock {self.name!r}: {noes} of {len(replies)} masters no longer hold the "
                f"lease ({what})",
                name=self.name,
            )
        errors = [r for r in replies if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        raise RedisTimeoutError(f"redlock {self.name!r}: no majority answered the {what} in time")


NO_ANSWER: Any = object()


async def _reply_of(
    executor: Executor, script: LuaScript, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """The script's reply on one master, or the exception it met (logged)."""
    try:
        return await executor.run_script(script, keys, args)
    except Exception as error:
        log.debug("redlock: a master failed: %r", error)
        return error


def _taken(reply: Any) -> bool:
    return isinstance(reply, list) and len(reply) == 2 and reply[0] == 1


def _is_one(reply: Any) -> bool:
    return not isinstance(reply, BaseException) and reply == 1


def _at_least(reply: Any, fence: int) -> bool:
    return isinstance(reply, int) and reply >= fence


def _is_no(reply: Any, yes: Callable[[Any], bool], *, failures_are_no: bool) -> bool:
    if reply is NO_ANSWER:
        return False
    if isinstance(reply, BaseException):
        return failures_are_no
    return not yes(reply)
