"""Key building: ``<namespace>:{<object>}:<part>``.

Every key of one logical object (a rate-limit identifier, a lock name, a cache key) carries
the same hash tag, so that every operation on that object stays within one cluster slot.

User text is escaped so that it can never form or break a hash tag and never collides with
another identifier: ``%``, ``{`` and ``}`` are percent-encoded (``%25``, ``%7B``, ``%7D``),
and a lone surrogate (text that is not valid Unicode, say from a malformed header, which
no Redis key could hold) becomes ``%uD800``; since ``%`` itself is always encoded, this is
injective, and nothing else changes. Identifiers longer than
``MAX_PLAIN_LENGTH`` characters are replaced by ``#`` and their SHA-256 digest; a plain
identifier never starts with ``#`` after escaping (``#`` is encoded as ``%23`` in first
position), so the two forms cannot meet.
"""

from __future__ import annotations

import functools
import hashlib

from .errors import ConfigurationError

MAX_PLAIN_LENGTH = 256

_ESCAPES = str.maketrans(
    {"%": "%25", "{": "%7B", "}": "%7D"}
    | {chr(code): f"%u{code:04X}" for code in range(0xD800, 0xE000)}
)
_RESERVED_FIRST = {"#": "%23", "~": "%7E"}


@functools.lru_cache(maxsize=4096)  # the same identifiers come back (users, addresses, keys)
def escape(text: str) -> str:
    """Return ``text`` with no braces, injectively; long text becomes a digest."""
    if len(text) > MAX_PLAIN_LENGTH:
        return "#" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if not text:
        return "%"  # "{}" is no hash tag to Redis; a lone "%" is never the escape of anything else
    escaped = text.translate(_ESCAPES)
    if escaped[:1] in _RESERVED_FIRST:
        escaped = _RESERVED_FIRST[escaped[0]] + escaped[1:]
    return escaped


def identifier(value: str | int) -> str:
    """Accept a user identifier: ``str`` as is, ``int`` as its decimal text."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"identifiers are str or int, not {type(value).__name__}")
    return value if isinstance(value, str) else str(value)


def check_namespace(namespace: object) -> str:
    """Validate a pattern's ``namespace`` argument at construction."""
    if not isinstance(namespace, str) or not namespace:
        raise ConfigurationError(f"namespace must be a non-empty str, got {namespace!r}")
    if "{" in namespace or "}" in namespace:
        raise ConfigurationError(
            f"namespace may not contain braces (they would set the cluster hash tag): {namespace!r}"
        )
    return namespace


class KeyBuilder:
    """Builds the keys of one pattern instance under ``namespace``.

    ``builder.tag(obj)`` is the hash-tagged prefix of one logical object and
    ``builder.key(obj, part)`` one of its keys; ``builder.shared(part)`` is a key of the
    pattern itself (with its own tag).
    """

    __slots__ = ("_prefix",)

    def __init__(self, namespace: str) -> None:
        self._prefix = check_namespace(namespace) + ":"

    @property
    def prefix(self) -> str:
        """Every key this builder makes starts with this text."""
        return self._prefix

    def tag(self, obj: str | int) -> str:
        return f"{self._prefix}{{{escape(identifier(obj))}}}"

    def key(self, obj: str | int, part: str) -> str:
        return f"{self.tag(obj)}:{part}"

    def single(self, kind: str, obj: str | int) -> str:
        """The one key of an object that never shares an operation with another key.

        A single key is its own cluster slot, so it needs no hash tag, and leaving the tag
        out keeps small keys small: ``<namespace>:<kind><object>``. ``kind`` is a short
        marker that tells apart the key kinds of one namespace; an escaped object never
        holds a brace, so these keys never meet ``key()``'s, which always do.
        """
        return f"{self._prefix}{kind}{escape(identifier(obj))}"

    def shared(self, part: str) -> str:
        return f"{self._prefix}{{~{part}}}"
