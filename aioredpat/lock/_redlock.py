"""``Redlock``: one lock over several independent Redis masters, held by a majority."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Sequence
from typing import Any

import anyio

from .._executor import Executor, executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from ..errors import ConfigurationError, LockNotAcquired, LockNotOwned
from ._lock import _UNSET, ABANDON, ACQUIRE, EXTEND, RELEASE, LockBase, LockLease, check_ttl

__all__ = ("Redlock",)

log = logging.getLogger("aioredpat")

FENCE_FLOOR = LuaScript("lock_fence_floor")


class Redlock(LockBase):
    """The Redlock algorithm over ``conns``, a list of independent masters (not a cluster).

    An acquisition tries every master in parallel, each bounded by ``node_timeout``, and
    holds the lock only if a majority said yes within the lease's validity (``ttl`` minus
    the time taken minus the allowed clock drift, ``drift_factor * ttl + 2 ms``). Otherwise
    it releases everywhere and retries after a random delay of up to ``retry_delay``.

    Fencing: after a majority is reached, every master held gets its counter raised to the
    largest token seen; any two majorities share a master, so tokens increase strictly.
    Extensions need a majority too; releases go to every master.

    Same interface as ``Lock``: ``async with``, ``acquire()``, ``lease.release()``,
    ``lease.extend()``, ``locked()``.
    """

    def __init__(
        self,
        conns: Sequence[object],
        name: str,
        *,
        ttl: float,
        blocking_timeout: float | None = None,
        auto_extend: bool = False,
        namespace: str = "lock",
        node_timeout: float | None = None,
        retry_delay: float = 0.2,
        drift_factor: float = 0.01,
        release_timeout: float = 5.0,
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
        self.node_timeout = check_ttl(
            "node_timeout", max(0.05, self.ttl / 100) if node_timeout is None else node_timeout
        )
        self.retry_delay = check_ttl("retry_delay", retry_delay, allow_zero=True)
        if not 0 <= drift_factor < 0.5:
            raise ConfigurationError(f"drift_factor must be in [0, 0.5), got {drift_factor!r}")
        self.drift = drift_factor * self.ttl + 0.002
        self._executors = [executor_for(conn) for conn in conns]
        self.quorum = len(self._executors) // 2 + 1
        keys = KeyBuilder(check_namespace(namespace))
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

    def __repr__(self) -> str:
        return f"Redlock({self.name!r}, ttl={self.ttl}, masters={len(self._executors)})"

    async def _on_each(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any],
                       executors: Sequence[Executor] | None = None) -> list[Any]:  # fmt: skip
        """Run ``script`` on every master at once; a master that fails or is late gives None."""

        async def one(executor: Executor) -> Any:
            with anyio.move_on_after(self.node_timeout):
                try:
                    return await executor.run_script(script, keys, args)
                except Exception as error:
                    log.debug("aioredpat: redlock %r: a master failed: %r", self.name, error)
            return None

        return list(await asyncio.gather(*(one(e) for e in executors or self._executors)))

    async def locked(self) -> bool:
        """Whether a majority of masters reports the lock held."""
        found = await asyncio.gather(
            *(e.execute("EXISTS", self._key) for e in self._executors), return_exceptions=True
        )
        return sum(1 for f in found if f == 1) >= self.quorum

    async def acquire(self, *, blocking_timeout: float | None = _UNSET) -> LockLease:
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
        try:
            replies = await self._on_each(ACQUIRE, self._acquire_keys, (token, self._ttl_ms))
        except BaseException:
            self._in_background(self._abandon_everywhere(token))
            raise
        held = [e for e, r in zip(self._executors, replies, strict=True) if r and r[0] == 1]
        validity = self.ttl - (loop.time() - started) - self.drift
        if len(held) >= self.quorum and validity > 0:
            fence = max(int(r[1]) for r in replies if r and r[0] == 1)
            await self._on_each(FENCE_FLOOR, (self._fence_key,), (fence,), held)
            return LockLease(self.name, fence, token, self)
        # no majority: give back what was taken, and make late arrivals refuse
        self._in_background(self._abandon_everywhere(token))
        return None

    async def _abandon_everywhere(self, token: str) -> None:
        with anyio.move_on_after(self.release_timeout):
            await self._on_each(ABANDON, self._abandon_keys, (token, self._ttl_ms, self._channel))

    async def _release(self, lease: LockLease) -> None:
        replies = await self._on_each(RELEASE, self._release_keys, (lease.token, self._channel))
        if sum(1 for r in replies if r == 1) < self.quorum:
            raise LockNotOwned(
                f"redlock {self.name!r}: the lease had lost its majority", name=self.name
            )

    async def _extend(self, lease: LockLease, ttl: float | None) -> None:
        ttl_ms = self._ttl_ms if ttl is None else max(1, round(check_ttl("ttl", ttl) * 1000))
        replies = await self._on_each(EXTEND, (self._key,), (lease.token, ttl_ms))
        if sum(1 for r in replies if r == 1) < self.quorum:
            raise LockNotOwned(f"redlock {self.name!r}: no majority to extend", name=self.name)
