"""Sessions: ``SessionStore`` (hashed ids, sliding and absolute expiry, atomic updates and
rotation) and ``SessionMiddleware`` (pure ASGI)."""

from ._middleware import SessionMiddleware as SessionMiddleware
from ._middleware import end_session as end_session
from ._middleware import rotate_session as rotate_session
from ._store import SessionStore as SessionStore

__all__ = ("SessionMiddleware", "SessionStore", "end_session", "rotate_session")
