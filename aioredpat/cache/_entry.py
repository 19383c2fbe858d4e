"""How a cache entry is stored: a one-line header, then the serialized value.

    ar1|<kind>|<fresh until, ms>|<load time, ms>|<tags>\\n<value>

``kind`` is ``v`` (a value) or ``n`` (the loader found nothing: a negative entry).
``fresh until`` is the wall-clock time (ms since the epoch) after which the entry is stale:
served while a refresh runs in stale-while-revalidate mode, otherwise the Redis TTL ends it
at that moment anyway. ``load time`` is how long the loader took (XFetch's delta).
``tags`` is empty, or a JSON list of ``[tag, version]`` pairs read before the value was
produced. Anything that does not parse is a corrupt entry, and a corrupt entry is a miss.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ("Entry", "decode_entry", "encode_entry")

MAGIC = b"ar1"


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    negative: bool
    fresh_until_ms: int
    delta_ms: int
    tags: tuple[tuple[str, str], ...]
    payload: bytes


def encode_entry(
    payload: bytes | None,
    *,
    fresh_until_ms: int,
    delta_ms: int,
    tags: tuple[tuple[str, str], ...] = (),
) -> bytes:
    kind = b"n" if payload is None else b"v"
    tag_text = json.dumps(tags, separators=(",", ":")).encode() if tags else b""
    header = b"|".join(
        (MAGIC, kind, str(fresh_until_ms).encode(), str(delta_ms).encode(), tag_text)
    )
    return header + b"\n" + (payload or b"")


def decode_entry(data: bytes) -> Entry:
    """Parse a stored entry; ``ValueError`` when it is not one."""
    header, newline, payload = data.partition(b"\n")
    parts = header.split(b"|", 4)
    if not newline or len(parts) != 5 or parts[0] != MAGIC or parts[1] not in (b"v", b"n"):
        raise ValueError("not a cache entry")
    tags: tuple[tuple[str, str], ...] = ()
    if parts[4]:
        tags = tuple((str(tag), str(version)) for tag, version in json.loads(parts[4]))
    return Entry(parts[1] == b"n", int(parts[2]), int(parts[3]), tags, payload)
