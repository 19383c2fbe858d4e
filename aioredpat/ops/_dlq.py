"""``dlq``: a dead-letter stream's entries (or a queue's dead jobs), replayed or purged.

A target is a dead-letter stream's key, or ``queue:NAME`` for the dead jobs of the job
queue NAME (in the ``queue`` namespace unless another is given). Replaying puts entries
back where they came from (an entry's ``stream`` field; a job back to waiting) and removes
them, in batches of ``batch``; a dry run only says what it would move.
"""

from __future__ import annotations

from typing import Any

from .._keys import KeyBuilder
from ..queue._queue import DEAD, PARTS
from ._client import Client, text

__all__ = ("dlq_list", "dlq_purge", "dlq_replay")


def _queue_keys(target: str, namespace: str) -> list[str] | None:
    if not target.startswith("queue:"):
        return None
    keys = KeyBuilder(namespace)
    return [keys.key(target.removeprefix("queue:"), part) for part in PARTS]


async def dlq_list(
    client: Client, target: str, *, namespace: str = "queue", limit: int = 100
) -> list[dict[str, Any]]:
    queue = _queue_keys(target, namespace)
    if queue is not None:
        found = await client.eval(DEAD.source.decode(), len(queue), *queue, limit, "read")
        return [
            {"id": text(found[i]), "attempts": int(found[i + 1]), "data": text(found[i + 2]),
             "error": text(found[i + 3])}
            for i in range(0, len(found), 4)
        ]  # fmt: skip
    entries = await client.xrange(target, count=limit)
    return [{"id": text(entry_id), **{text(k): text(v) for k, v in fields.items()}}
            for entry_id, fields in entries]  # fmt: skip


async def dlq_replay(
    client: Client,
    target: str,
    *,
    namespace: str = "queue",
    dry_run: bool = False,
    batch: int = 100,
) -> dict[str, Any]:
    """Put every dead entry back where it came from; how many (and where)."""
    queue = _queue_keys(target, namespace)
    if queue is not None:
        if dry_run:
            return {
                "replayed": 0,
                "would_replay": int(await client.zcard(queue[3])),
                "dry_run": True,
            }
        moved = 0
        while step := int(
            await client.eval(DEAD.source.decode(), len(queue), *queue, batch, "retry")
        ):
            moved += step
        return {"replayed": moved, "dry_run": False}
    moved, skipped, where = 0, 0, dict[str, int]()
    start = "-"
    while True:
        entries = await client.xrange(target, min=start, count=batch)
        if not entries:
            break
        for entry_id, fields in entries:
            origin, data = fields.get(b"stream"), fields.get(b"data")
            if origin is None or data is None:
                skipped += 1  # nothing to put back (undecodable and dropped, or not ours)
                continue
            where[text(origin)] = where.get(text(origin), 0) + 1
            if not dry_run:
                await client.xadd(origin, {"data": data})
                await client.xdel(target, entry_id)
            moved += 1
        start = "(" + text(entries[-1][0])  # after the last one read
    return {"replayed": 0 if dry_run else moved, "would_replay": moved if dry_run else None,
            "skipped": skipped, "to": where, "dry_run": dry_run}  # fmt: skip


async def dlq_purge(
    client: Client, target: str, *, namespace: str = "queue", dry_run: bool = False
) -> dict[str, Any]:
    """Remove every dead entry (or dead job, with its data)."""
    queue = _queue_keys(target, namespace)
    if queue is not None:
        ids = await client.zrange(queue[3], 0, -1)
        if not dry_run and ids:
            pipe = client.pipeline(transaction=False)
            pipe.delete(queue[3])
            for part in (queue[4], queue[5], queue[6]):
                pipe.hdel(part, *ids)
            await pipe.execute()
        return {"purged": 0 if dry_run else len(ids), "dry_run": dry_run}
    length = int(await client.xlen(target))
    if not dry_run:
        await client.delete(target)
    return {"purged": 0 if dry_run else length, "dry_run": dry_run}
