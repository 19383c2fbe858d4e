"""Consumer-group pieces shared by ``StreamConsumer`` and ``WriteBehind``'s flushers."""

from __future__ import annotations

from redis.exceptions import ResponseError

from ._executor import Executor, as_text
from ._scripts import LuaScript

__all__ = ("Entry", "claim", "create_group", "next_id")

CLAIM = LuaScript("stream_claim")

Entry = tuple[str, dict[bytes, bytes], int]  # id, fields, deliveries


def next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq) + 1}"


async def create_group(executor: Executor, stream: str, group: str, start_id: str) -> None:
    """``XGROUP CREATE ... MKSTREAM``; a group that exists already is fine."""
    try:
        await executor.execute("XGROUP", "CREATE", stream, group, start_id, "MKSTREAM")
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


async def claim(
    executor: Executor,
    stream: str,
    group: str,
    consumer: str,
    *,
    min_idle_ms: int,
    cursor: str,
    count: int,
    owner: str = "",
) -> tuple[str, list[Entry]]:
    """Claim up to ``count`` entries idle ``min_idle_ms`` from ``cursor`` on (pending on
    ``owner``, or on anyone), with their delivery counts; one EVALSHA. Returns the next
    cursor, ``""`` once the end of the pending list was reached, and the entries."""
    last, claimed = await executor.run_script(
        CLAIM, [stream], [group, consumer, min_idle_ms, cursor, count, owner]
    )
    entries: list[Entry] = []
    for entry_id, flat, deliveries in claimed:
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        entries.append((as_text(entry_id), fields, int(deliveries)))
    return (next_id(as_text(last)) if last else ""), entries
