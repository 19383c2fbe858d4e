"""``Semaphore``: up to ``limit`` holders at once, each permit expiring on the server clock."""

from __future__ import annotations

from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ._lock import Lock

__all__ = ("Semaphore",)


class Semaphore(Lock):
    """A counting lock: at most ``limit`` leases of ``name`` are held at once.

    Same interface and guarantees as ``Lock`` (``async with``, leases, fencing tokens,
    notified hand-off, cancellation safety, ``auto_extend``). Permits live in one sorted
    set per name, ``<namespace>:{<name>}:holders``, scored by their expiry on the server's
    clock, so a crashed holder's permit frees itself after ``ttl``.
    """

    _ACQUIRE = LuaScript("semaphore_acquire")
    _RELEASE = LuaScript("semaphore_release")
    _EXTEND = LuaScript("semaphore_extend")
    _ABANDON = LuaScript("semaphore_abandon")
    _KEY_PART = "holders"

    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        limit: int,
        ttl: Duration,
        blocking_timeout: Duration | None = None,
        auto_extend: bool = False,
        namespace: str = "semaphore",
        release_timeout: Duration = 5.0,
        name_in_metrics: bool = False,
    ) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"limit must be an int >= 1, got {limit!r}")
        self.limit = limit
        super().__init__(
            conn,
            name,
            ttl=ttl,
            blocking_timeout=blocking_timeout,
            auto_extend=auto_extend,
            namespace=namespace,
            release_timeout=release_timeout,
            name_in_metrics=name_in_metrics,
        )
        abandoned = self._acquire_keys[2]
        self._acquire_keys = self._acquire_keys[:3]
        self._release_keys = (self._key,)
        self._abandon_keys = (self._key, abandoned)

    def __repr__(self) -> str:
        return f"Semaphore({self.name!r}, limit={self.limit}, ttl={self.ttl})"

    def _acquire_args(self, token: str, stay_ms: int) -> tuple[str | int, ...]:
        return (token, self._ttl_ms, self.limit)  # no queue: a release wakes every waiter

    def _wait_channel(self, token: str) -> str:
        return self._channel  # one channel: any freed permit may suit any waiter

    async def locked(self) -> bool:
        """Whether every permit is held now (expired permits do not count)."""
        return await self.held() >= self.limit

    async def held(self) -> int:
        """How many permits are held now (one ZCOUNT on the server's clock)."""
        seconds, micros = await self._executor.execute("TIME")
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        return int(await self._executor.execute("ZCOUNT", self._key, f"({now_ms}", "+inf"))
