"""``doctor``: the production checklist of every pattern's guide, checked on a live server.

Each check is ``pass``, ``warn`` or ``fail`` with a one-line reason and what to do. It only
reads: CONFIG GET, INFO, SLOWLOG GET, CLUSTER INFO, SCAN, TYPE, PTTL, MEMORY USAGE and a
GETRANGE of the first bytes of sampled strings (to tell cache entries apart).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

from redis.asyncio import RedisCluster
from redis.exceptions import ResponseError

from ._client import Client, node_call, nodes, scan_keys, text

__all__ = ("Check", "classify", "doctor")

Status = Literal["pass", "warn", "fail"]
BIG_KEY = 10 * 1024 * 1024  # bytes: a key this big blocks the server while it is read
LAYOUT = re.compile(rb"^(?P<ns>.+?):\{(?P<obj>[^}]*)\}:(?P<part>[a-z]+)(?::|$)")
QUEUE_PARTS = {  # a job queue's keys and their types
    b"w": "list", b"d": "zset", b"r": "zset", b"x": "zset",
    b"j": "hash", b"a": "hash", b"e": "hash", b"s": "list",
}  # fmt: skip
DURABLE = ("stream", "queue")  # kinds whose loss loses work


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Key:
    name: bytes
    kind: str  # "cache", "lock", "tags", "queue", "stream", "other"
    ttl_ms: int
    expects_ttl: bool


async def classify(client: Client, node: Any, key: bytes) -> _Key:
    """What aioredpat pattern ``key`` belongs to, by its layout (and type, for streams)."""
    kind_type = text(await node_call(client, node, "TYPE", key))
    ttl = int(await node_call(client, node, "PTTL", key))
    if kind_type == "stream":
        return _Key(key, "stream", ttl, False)
    match = LAYOUT.match(key)
    if match is not None:
        part = match["part"]
        if match["obj"].startswith(b"~tags"):
            return _Key(key, "tags", ttl, True)
        if part == b"v" and kind_type == "string":
            head = await node_call(client, node, "GETRANGE", key, 0, 3)
            if head == b"ar1|":
                return _Key(key, "cache", ttl, True)
        if part == b"held":
            return _Key(key, "lock", ttl, True)
        if QUEUE_PARTS.get(part) == kind_type:
            return _Key(key, "queue", ttl, False)
    return _Key(key, "other", ttl, False)


async def doctor(client: Client, *, sample: int = 1000) -> list[Check]:
    """Every check, in order. ``sample`` bounds the keys looked at per primary."""
    checks: list[Check] = []
    info = await client.info()
    first = info if not isinstance(client, RedisCluster) else next(iter(info.values()), info)
    checks.append(_version(first if isinstance(first, dict) else info))
    keys = [
        await classify(client, node, key) async for node, key in scan_keys(client, limit=sample)
    ]
    durable = sorted({k.kind for k in keys if k.kind in DURABLE})
    config = await _config(client)
    checks.append(_eviction(config, durable))
    checks.append(_persistence(config, durable))
    checks.append(_ttls(keys))
    checks.append(await _big_keys(client, sample))
    checks.append(await _slowlog(client))
    checks.append(await _memory(client))
    if isinstance(client, RedisCluster):
        checks.append(await _cluster(client))
    return checks


def _version(info: dict[str, Any]) -> Check:
    version = str(info.get("redis_version", "?"))
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if parts < (6, 2):
        return Check("server version", "fail", f"Redis {version}: aioredpat needs 6.2 or newer")
    note = "7.x: consumer-group lag reported" if parts >= (7, 0) else "6.2: no consumer-group lag"
    return Check("server version", "pass", f"Redis {version} ({note})")


async def _config(client: Client) -> dict[str, str] | None:
    try:
        found = await client.config_get("*")
    except ResponseError:
        return None  # a managed server may refuse CONFIG
    if isinstance(client, RedisCluster) and found and isinstance(next(iter(found.values())), dict):
        found = next(iter(found.values()))
    return {text(k): text(v) for k, v in found.items()}


def _eviction(config: dict[str, str] | None, durable: list[str]) -> Check:
    if config is None:
        return Check(
            "eviction policy", "warn", "CONFIG GET is refused: check maxmemory-policy by hand"
        )
    policy = config.get("maxmemory-policy", "?")
    if policy.startswith("allkeys-") and durable:
        return Check(
            "eviction policy", "fail",
            f"{policy} with {' and '.join(durable)} keys: Redis may evict queued work; "
            "use noeviction (or volatile-*, which spares keys without a TTL)",
        )  # fmt: skip
    return Check("eviction policy", "pass", f"{policy}")


def _persistence(config: dict[str, str] | None, durable: list[str]) -> Check:
    if config is None:
        return Check("persistence", "warn", "CONFIG GET is refused: check appendonly by hand")
    aof = config.get("appendonly") == "yes"
    if durable and not aof:
        return Check(
            "persistence", "warn",
            f"no AOF with {' and '.join(durable)} keys: a restart loses what was queued since "
            "the last snapshot; set appendonly yes (appendfsync everysec or always)",
        )  # fmt: skip
    what = f"AOF, appendfsync {config.get('appendfsync', '?')}" if aof else "no AOF"
    return Check("persistence", "pass", what + ("" if durable else " (no durable keys found)"))


def _ttls(keys: list[_Key]) -> Check:
    missing = [k for k in keys if k.expects_ttl and k.ttl_ms < 0]
    if missing:
        by_kind: dict[str, int] = {}
        for key in missing:
            by_kind[key.kind] = by_kind.get(key.kind, 0) + 1
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(by_kind.items()))
        example = text(missing[0].name)
        return Check(
            "keys without a TTL", "warn",
            f"{counts} key(s) that their pattern stores with a TTL have none (e.g. {example}): "
            "written by hand or by an old version; they never leave memory",
        )  # fmt: skip
    return Check("keys without a TTL", "pass", f"{len(keys)} keys sampled, all as expected")


async def _big_keys(client: Client, sample: int) -> Check:
    biggest: tuple[int, bytes] = (0, b"")
    async for node, key in scan_keys(client, limit=min(sample, 200)):
        size = await node_call(client, node, "MEMORY", "USAGE", key, "SAMPLES", 0)
        if size is not None and int(size) > biggest[0]:
            biggest = (int(size), key)
    if biggest[0] > BIG_KEY:
        return Check(
            "big keys", "warn",
            f"{text(biggest[1])} takes {biggest[0] / 2**20:.1f} MiB: reading or deleting it "
            "blocks the server; split it (or cap it: maxlen, max_entries)",
        )  # fmt: skip
    if not biggest[1]:
        return Check("big keys", "pass", "no keys")
    return Check("big keys", "pass", f"largest sampled: {text(biggest[1])}, {biggest[0]:,} bytes")


async def _slowlog(client: Client) -> Check:
    slowest: list[tuple[int, str]] = []
    for node in nodes(client):
        for entry in await node_call(client, node, "SLOWLOG", "GET", 5):
            command = " ".join(text(a) for a in entry[3][:3])
            slowest.append((int(entry[2]), command))
    slowest.sort(reverse=True)
    if slowest and slowest[0][0] >= 10_000:
        top = "; ".join(f"{us / 1000:.1f} ms {command}" for us, command in slowest[:3])
        return Check("slow log", "warn", f"commands of 10 ms or more: {top}")
    if slowest:
        return Check("slow log", "pass", f"slowest logged: {slowest[0][0] / 1000:.1f} ms")
    return Check("slow log", "pass", "empty")


async def _memory(client: Client) -> Check:
    worst: tuple[float, int, int] | None = None
    for node in nodes(client):
        info = await node_call(client, node, "INFO", "memory")
        if isinstance(info, bytes):
            info = dict(line.split(":", 1) for line in text(info).splitlines() if ":" in line)
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        if limit and (worst is None or used / limit > worst[0]):
            worst = (used / limit, used, limit)
    if worst is None:
        return Check(
            "maxmemory", "warn",
            "no maxmemory set: Redis grows until the machine runs out; set one with headroom",
        )  # fmt: skip
    share, used, limit = worst
    if share > 0.9:
        return Check(
            "maxmemory", "warn", f"{share:.0%} of maxmemory used ({used:,} of {limit:,} bytes)"
        )
    return Check("maxmemory", "pass", f"{share:.0%} of maxmemory used")


async def _cluster(client: Client) -> Check:
    info = await client.cluster_info()
    if isinstance(info, dict) and "cluster_state" not in info:
        info = next(iter(info.values()))
    state = text(info.get("cluster_state", "?"))
    assigned = int(info.get("cluster_slots_assigned", 0))
    failing = int(info.get("cluster_slots_fail", 0))
    if state != "ok" or assigned != 16384 or failing:
        return Check(
            "cluster", "fail",
            f"state {state}, {assigned} of 16384 slots assigned, {failing} failing",
        )  # fmt: skip
    return Check(
        "cluster", "pass", f"state ok, all 16384 slots served by {len(nodes(client))} primaries"
    )
