"""``Leaderboard``: a sorted set with best-score submits and competition ranking."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._checks import check_count
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ._common import decode_member, encode_member, finite, ttl_ms

__all__ = ("Leaderboard", "LeaderboardEntry")

WRITE = LuaScript("leaderboard_write")
READ = LuaScript("leaderboard_read")


@dataclasses.dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One member's place: ``rank`` is 1-based, shared by equal scores ("1224")."""

    member: str
    score: float
    rank: int


class Leaderboard:
    """Scores of members in one sorted set (one key: one slot on a cluster).

    Higher scores rank first, or lower ones with ``lowest_first=True`` (golf, lap times).
    Ranks are competition ranks: members with equal scores share a rank and the next one
    skips, so three players on 10, 9, 9, 8 rank 1, 2, 2, 4, whatever their names. Every
    call is one round trip (one EVALSHA or one command). ``ttl`` (optional) is refreshed
    by every write: a board nobody writes to goes away.
    """

    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        namespace: str = "leaderboard",
        lowest_first: bool = False,
        ttl: Duration | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"name must be a non-empty str, got {name!r}")
        self.name = name
        self.lowest_first = bool(lowest_first)
        self._ttl_ms = ttl_ms(ttl)
        self._key = KeyBuilder(check_namespace(namespace)).single("b", name)
        self._executor = executor_for(conn)
        self._better = "LT" if self.lowest_first else "GT"

    def __repr__(self) -> str:
        return f"Leaderboard({self.name!r}, lowest_first={self.lowest_first})"

    async def _write(self, mode: str, member: str, value: float) -> Any:
        return await self._executor.run_script(
            WRITE,
            [self._key],
            [mode, encode_member(member), repr(value), self._better, self._ttl_ms],
        )

    async def set(self, member: str, score: float) -> None:
        """Set ``member``'s score, better or not."""
        await self._write("set", member, finite("score", score))

    async def incr(self, member: str, by: float = 1.0) -> float:
        """Add ``by`` to ``member``'s score (a new member starts from 0); the new score."""
        return float(await self._write("incr", member, finite("by", by)))

    async def submit(self, member: str, score: float) -> bool:
        """Keep ``score`` if it beats ``member``'s best, atomically; ``True`` if it did
        (a member's first score always does)."""
        return bool(await self._write("best", member, finite("score", score)))

    async def score(self, member: str) -> float | None:
        found = await self._executor.read("ZSCORE", self._key, encode_member(member))
        return None if found is None else float(found)

    async def rank(self, member: str) -> int | None:
        """``member``'s 1-based rank, ``None`` if it has no score."""
        found = await self._read("rank", encode_member(member))
        return None if found is None else int(found[0])

    async def top(self, n: int = 10, *, offset: int = 0) -> list[LeaderboardEntry]:
        """The ``n`` best from position ``offset`` (0: the first), with their ranks."""
        check_count("n", n)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigurationError(f"offset must be an int >= 0, got {offset!r}")
        return _entries(await self._read("top", offset, n))

    async def around(self, member: str, n: int = 5) -> list[LeaderboardEntry]:
        """``member`` and up to ``n`` members either side of it; empty if it has no score."""
        check_count("n", n)
        return _entries(await self._read("around", encode_member(member), n))

    async def remove(self, member: str) -> bool:
        return bool(await self._executor.execute("ZREM", self._key, encode_member(member)))

    async def size(self) -> int:
        return int(await self._executor.read("ZCARD", self._key))

    async def _read(self, mode: str, *args: bytes | int) -> Any:
        high = "0" if self.lowest_first else "1"
        return await self._executor.run_script(READ, [self._key], [mode, high, *args])


def _entries(flat: list[Any]) -> list[LeaderboardEntry]:
    return [
        LeaderboardEntry(decode_member(flat[i]), float(flat[i + 1]), int(flat[i + 2]))
        for i in range(0, len(flat), 3)
    ]
