"""``SessionStore``: server-side sessions under hashed ids.

A session id is a fresh secret of 256 bits (``secrets.token_urlsafe(32)``, 43 characters).
Redis only ever holds its SHA-256: the key is ``<ns>:{<2 hex>}:<64 hex>``, the hash tag
being the digest's first two hex digits. A new id drawn by ``rotate`` is drawn until its
digest shares those two digits, so the old and the new key share a slot on a cluster and
the rotation is one script. A user's sessions are listed in an index (a sorted set under
``<ns>:u:{<user>}``) whose entries are pruned once their session can no longer live.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import secrets
from collections.abc import Awaitable, Callable
from types import UnionType
from typing import Any, Generic, TypeVar, overload

from .._checks import check_seconds
from .._executor import executor_for
from .._keys import KeyBuilder, check_namespace, escape
from .._scripts import LuaScript
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer

__all__ = ("SessionStore",)

T = TypeVar("T")

CREATE = LuaScript("session_create")
READ = LuaScript("session_read")
WRITE = LuaScript("session_write")
ROTATE = LuaScript("session_rotate")
INDEX = LuaScript("session_index")

ID_LENGTH = 43  # token_urlsafe(32)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _well_formed(sid: object) -> bool:
    return isinstance(sid, str) and len(sid) == ID_LENGTH and _ID_CHARS.issuperset(sid)


class SessionStore(Generic[T]):
    """Sessions with a sliding idle ``ttl`` (refreshed by every read) and an optional
    ``absolute_ttl`` counted from creation that no activity extends; a session ends at
    whichever comes first. Values are typed by ``model`` (any JSON data without one).

    ``get`` is one round trip. ``update`` is an atomic read-modify-write (compare-and-set
    on a version, retried), so concurrent updates never lose one another. ``rotate`` moves
    a session to a new id in one step (use it at login, against session fixation).
    ``destroy_user`` ends every session created with that ``user``. A malformed id (empty,
    too long, not one of ours) is simply unknown: ``None``, never an error.
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str = "session",
        ttl: Duration = 86400.0,
        absolute_ttl: Duration | None = None,
        model: type[T],
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str = "session",
        ttl: Duration = 86400.0,
        absolute_ttl: Duration | None = None,
        serializer: Serializer[T],
    ) -> None: ...
    @overload
    def __init__(
        self: SessionStore[Any],
        conn: Connection,
        *,
        namespace: str = "session",
        ttl: Duration = 86400.0,
        absolute_ttl: Duration | None = None,
        model: UnionType | None = None,
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str = "session",
        ttl: Duration = 86400.0,
        absolute_ttl: Duration | None = None,
        model: Any = None,
        serializer: Serializer[T] | None = None,
    ) -> None:
        self.ttl = check_seconds("ttl", ttl, minimum=1.0)
        self.absolute_ttl = (
            None
            if absolute_ttl is None
            else check_seconds("absolute_ttl", absolute_ttl, minimum=1.0)
        )
        self._keys = KeyBuilder(check_namespace(namespace))
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        self._ttl_ms = int(self.ttl * 1000)
        self._absolute_ms = 0 if self.absolute_ttl is None else int(self.absolute_ttl * 1000)

    def __repr__(self) -> str:
        return f"SessionStore(namespace={self._keys.prefix[:-1]!r}, ttl={self.ttl})"

    # -- keys: only digests reach Redis -------------------------------------------------

    def _key_of_digest(self, digest: str) -> str:
        return f"{self._keys.prefix}{{{digest[:2]}}}:{digest}"

    def _key(self, sid: str) -> str:
        return self._key_of_digest(_digest(sid))

    def _index(self, user: str) -> str:
        return f"{self._keys.prefix}u:{{{escape(user)}}}"

    def _encode(self, data: T) -> bytes:
        return self._executor.sized(self._serializer.dumps(data))

    async def _index_put(self, user: str, digest: str, score: int, old: str = "") -> None:
        if user:
            await self._executor.run_script(INDEX, [self._index(user)], [digest, score, old])

    # -- the API --------------------------------------------------------------------------

    async def create(self, data: T, *, user: str | None = None) -> str:
        """A new session holding ``data`` (for ``user``, if given); its id."""
        if user is not None and (not isinstance(user, str) or not user):
            raise ConfigurationError(f"user must be None or a non-empty str, got {user!r}")
        payload = self._encode(data)
        sid = secrets.token_urlsafe(32)
        digest = _digest(sid)
        score = await self._executor.run_script(
            CREATE,
            [self._key_of_digest(digest)],
            [payload, user or "", self._ttl_ms, self._absolute_ms],
        )
        await self._index_put(user or "", digest, int(score))
        return sid

    async def get(self, sid: str) -> T | None:
        """The session's data, sliding its idle expiry: one round trip. ``None`` for an
        unknown, expired or malformed id."""
        found = await self._read(sid)
        return None if found is None else found[0]

    async def _read(self, sid: str) -> tuple[T, int, str, bytes] | None:
        """``(data, version, user, encoded data)`` of a live session."""
        if not _well_formed(sid):
            return None
        digest = _digest(sid)
        found = await self._executor.run_script(READ, [self._key_of_digest(digest)], [self._ttl_ms])
        if found is None:
            return None
        data, version, user, moved = found
        user = user.decode() if isinstance(user, bytes) else str(user)
        if int(moved):  # the slide passed the user index's score: move the entry ahead
            await self._index_put(user, digest, int(moved))
        return self._serializer.loads(data), int(version), user, data

    async def set(self, sid: str, data: T) -> bool:
        """Replace the session's data; ``False`` if it is gone (it is never revived)."""
        return await self._write(sid, self._encode(data))

    async def _write(self, sid: str, payload: bytes) -> bool:
        if not _well_formed(sid):
            return False
        written, _ = await self._executor.run_script(
            WRITE, [self._key(sid)], [payload, "", self._ttl_ms]
        )
        return bool(written)

    async def update(
        self, sid: str, fn: Callable[[T], T] | Callable[[T], Awaitable[T]], *, retries: int = 50
    ) -> T | None:
        """Apply ``fn(old) -> new`` (sync or async) atomically: compare-and-set on the
        session's version, retried on conflict. The new data, or ``None`` (``fn`` not
        applied) when the session is gone."""
        for _ in range(retries + 1):
            found = await self._read(sid)
            if found is None:
                return None
            old, version, *_ = found
            result = fn(old)
            new = await result if inspect.isawaitable(result) else result
            written, now = await self._executor.run_script(
                WRITE, [self._key(sid)], [self._encode(new), version, self._ttl_ms]
            )
            if written:
                return new
            if int(now) == 0:
                return None
            await asyncio.sleep(0)  # another update won; read again
        raise RuntimeError(f"session update kept conflicting after {retries} retries")

    async def rotate(self, sid: str, *, user: str | None = None) -> str | None:
        """The same session (data and user) under a new id; the old id stops working in
        the same step. ``user`` gives the session a user (at login). ``None`` if the
        session is gone."""
        if user is not None and (not isinstance(user, str) or not user):
            raise ConfigurationError(f"user must be None or a non-empty str, got {user!r}")
        if not _well_formed(sid):
            return None
        old = _digest(sid)
        while True:  # about 256 draws: the new key must share the old one's slot
            new_sid = secrets.token_urlsafe(32)
            new = _digest(new_sid)
            if new[:2] == old[:2]:
                break
        found = await self._executor.run_script(
            ROTATE, [self._key_of_digest(old), self._key_of_digest(new)], [self._ttl_ms, user or ""]
        )
        if found is None:
            return None
        user, score = found
        user = user.decode() if isinstance(user, bytes) else str(user)
        await self._index_put(user, new, int(score), old)
        return new_sid

    async def destroy(self, sid: str) -> bool:
        """End the session; ``False`` if there was none."""
        if not _well_formed(sid):
            return False
        return bool(await self._executor.execute("DEL", self._key(sid)))

    async def destroy_user(self, user: str) -> int:
        """End every session created with ``user``; how many were live."""
        index = self._index(user)
        digests = await self._executor.execute("ZRANGE", index, 0, -1)
        if not digests:
            return 0
        batch = self._executor.batch()
        for digest in digests:
            batch.command("DEL", self._key_of_digest(digest.decode()))
        ended = sum(await batch.execute())
        await self._executor.execute("DEL", index)
        return int(ended)
