"""``inspect``: what one lock, limiter, stream or queue holds right now (read only)."""

from __future__ import annotations

import time
from typing import Any

from .._keys import KeyBuilder
from ..queue._queue import PARTS
from ._client import Client, text

__all__ = ("inspect_limiter", "inspect_lock", "inspect_queue", "inspect_stream")


async def _server_ms(client: Client, key: str) -> int:
    seconds, micros = await client.execute_command(
        "EVAL", "return redis.call('TIME')", 1, key
    )  # on the node of ``key``: its clock is the one leases count on
    return int(seconds) * 1000 + int(micros) // 1000


async def inspect_lock(client: Client, name: str, *, namespace: str = "lock") -> dict[str, Any]:
    """The holder's token, its fencing token, the ttl left and the waiters in line."""
    keys = KeyBuilder(namespace)
    held, fence, queue = keys.key(name, "held"), keys.key(name, "fence"), keys.key(name, "queue")
    holder = await client.get(held)
    ttl_ms = await client.pttl(held)
    waiters = await client.zrange(queue, 0, -1)
    return {
        "kind": "lock",
        "name": name,
        "held": holder is not None,
        "holder": None if holder is None else text(holder),
        "fencing_token": int(await client.get(fence) or 0),
        "ttl_left": ttl_ms / 1000 if ttl_ms >= 0 else None,
        "waiters": len(waiters),
    }


async def inspect_limiter(client: Client, namespace: str, identifier: str) -> dict[str, Any]:
    """Every key of one identifier under a limiter's namespace: type, ttl, contents."""
    keys = KeyBuilder(namespace)
    prefixes = [keys.single(kind, identifier) for kind in ("s", "a", "f", "t")]
    candidates = [
        *prefixes,
        *[k async for k in client.scan_iter(match=keys.tag(identifier) + ":*")],
    ]
    found = []
    for key in candidates:
        kind = text(await client.type(key))
        if kind == "none":
            continue
        entry: dict[str, Any] = {
            "key": text(key),
            "type": kind,
            "ttl": await client.pttl(key) / 1000,
        }
        if kind == "zset":
            entry["entries"] = await client.zcard(key)  # hits in the window
        elif kind == "hash":
            entry["fields"] = {text(k): text(v) for k, v in (await client.hgetall(key)).items()}
        elif kind == "string":
            entry["value"] = text(await client.get(key))
        found.append(entry)
    return {"kind": "limiter", "namespace": namespace, "identifier": identifier, "keys": found}


async def inspect_stream(
    client: Client, stream: str, *, group: str | None = None, dead_letter: str | None = None
) -> dict[str, Any]:
    """Length, groups with their lag and pending entries per consumer, the oldest pending
    entry's idle time, and the dead-letter stream's length."""
    info = await client.xinfo_stream(stream)
    groups = []
    for found in await client.xinfo_groups(stream):
        name = text(found["name"])
        if group is not None and name != group:
            continue
        consumers = await client.xinfo_consumers(stream, name)
        oldest = await client.xpending_range(stream, name, min="-", max="+", count=1)
        groups.append({
            "name": name,
            "lag": found.get("lag"),  # Redis 7.0+
            "pending": int(found["pending"]),
            "last_delivered": text(found["last-delivered-id"]),
            "oldest_pending_idle": oldest[0]["time_since_delivered"] / 1000 if oldest else None,
            "consumers": [
                {"name": text(c["name"]), "pending": int(c["pending"]),
                 "idle": int(c["idle"]) / 1000}
                for c in consumers
            ],
        })  # fmt: skip
    dead_key = dead_letter or f"{stream}:dead"
    return {
        "kind": "stream",
        "stream": stream,
        "length": int(info["length"]),
        "groups": groups,
        "dead_letter": dead_key,
        "dead_letters": int(await client.xlen(dead_key)) if await client.exists(dead_key) else 0,
    }


async def inspect_queue(client: Client, name: str, *, namespace: str = "queue") -> dict[str, Any]:
    """Waiting, delayed, running and dead counts; when the next delayed job is due, when
    the soonest lease ends, how long the oldest dead job has been dead."""
    keys = KeyBuilder(namespace)
    w, d, r, x = (keys.key(name, part) for part in PARTS[:4])
    now = await _server_ms(client, w)
    first_due = await client.zrange(d, 0, 0, withscores=True)
    first_lease = await client.zrange(r, 0, 0, withscores=True)
    first_dead = await client.zrange(x, 0, 0, withscores=True)
    return {
        "kind": "queue",
        "queue": name,
        "waiting": await client.llen(w),
        "delayed": await client.zcard(d),
        "running": await client.zcard(r),
        "dead": await client.zcard(x),
        "next_due_in": (first_due[0][1] - now) / 1000 if first_due else None,
        "soonest_lease_ends_in": (first_lease[0][1] - now) / 1000 if first_lease else None,
        "oldest_dead_age": (now - first_dead[0][1]) / 1000 if first_dead else None,
        "at": time.time(),
    }
