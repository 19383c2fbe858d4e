"""``SessionMiddleware``: sessions for any ASGI app, kept in a ``SessionStore``."""

from __future__ import annotations

import logging
from typing import Any

from .._asgi import ASGIApp, Message, Receive, Scope, Send, send_text
from .._backoff import FAILURES
from ..errors import ConfigurationError
from ._store import SessionStore

__all__ = ("SessionMiddleware", "end_session", "rotate_session")

log = logging.getLogger("aioredpat")


CONTROL = "aioredpat.session"


class _Control:
    __slots__ = ("end", "everywhere", "rotate", "user")

    def __init__(self) -> None:
        self.rotate = False
        self.end = False
        self.everywhere = False
        self.user: str | None = None


def _control(scope: Scope) -> _Control:
    control = scope.get(CONTROL)
    if not isinstance(control, _Control):
        raise RuntimeError("no SessionMiddleware runs around this app")
    return control


def rotate_session(scope: Scope, *, user: str | None = None) -> None:
    """Give the session a new id when this response is sent (call it at login, against
    session fixation); ``user`` records whose it is, for ``end_session(everywhere=True)``."""
    control = _control(scope)
    control.rotate = True
    control.user = user if user is not None else control.user


def end_session(scope: Scope, *, everywhere: bool = False) -> None:
    """End the session when this response is sent (logout); with ``everywhere``, every
    session of its user too."""
    control = _control(scope)
    control.end = True
    control.everywhere = everywhere


class SessionMiddleware:
    """Loads the session named by the ``cookie`` into ``scope["session"]`` (a dict, so
    Starlette's and FastAPI's ``request.session`` work) and saves it when the response
    starts, only if it changed: one round trip for a request that reads it, two at most
    for one that changes it. A tampered, unknown, oversized or expired cookie gives a
    fresh empty session, never an error. While Redis is unreachable the request gets a
    503 (``unavailable_status``) instead of running without its session.

    The cookie is ``HttpOnly``, ``Secure`` and ``SameSite=Lax`` by default, with a
    ``Max-Age`` following the store's idle ``ttl`` (refreshed on every response).
    ``rotate_session(scope)`` and ``end_session(scope)`` act on it from the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        store: SessionStore[Any],
        *,
        cookie: str = "session",
        secure: bool = True,
        httponly: bool = True,
        samesite: str = "lax",
        path: str = "/",
        domain: str | None = None,
        unavailable_status: int = 503,
    ) -> None:
        if samesite.lower() not in ("lax", "strict", "none"):
            raise ConfigurationError(
                f'samesite must be "lax", "strict" or "none", got {samesite!r}'
            )
        if samesite.lower() == "none" and not secure:
            raise ConfigurationError("samesite='none' needs secure=True (browsers refuse it)")
        if not cookie or any(c in cookie for c in ' ;,="\\'):
            raise ConfigurationError(f"cookie must be a plain cookie name, got {cookie!r}")
        self.app = app
        self.store = store
        self.cookie = cookie
        self.unavailable_status = unavailable_status
        max_age = store.ttl if store.absolute_ttl is None else min(store.ttl, store.absolute_ttl)
        flags = [f"Path={path}"]
        if domain:
            flags.append(f"Domain={domain}")
        if httponly:
            flags.append("HttpOnly")
        if secure:
            flags.append("Secure")
        flags.append(f"SameSite={samesite.capitalize()}")
        self._flags = "; ".join(flags)
        self._max_age = int(max_age)

    def _cookie_header(self, value: str, max_age: int) -> tuple[bytes, bytes]:
        text = f"{self.cookie}={value}; Max-Age={max_age}; {self._flags}"
        return b"set-cookie", text.encode("latin-1")

    def _sid(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers") or ():
            if name != b"cookie":
                continue
            for pair in value.decode("latin-1").split(";"):
                key, _, found = pair.strip().partition("=")
                if key == self.cookie:
                    return str(found.strip('"'))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sid = self._sid(scope)
        try:
            loaded = await self.store._read(sid) if sid else None  # (data, version, user)
        except FAILURES as error:
            await self._unavailable(scope, send, error)
            return
        data: dict[str, Any] = dict(loaded[0]) if loaded and isinstance(loaded[0], dict) else {}
        session_live = loaded is not None  # else a stale cookie, if any: cleared
        before = loaded[3] if loaded else b""  # as stored: a change shows in the encoding
        control = _Control()
        control.user = loaded[2] or None if loaded else None
        scope["session"] = data
        scope[CONTROL] = control
        if scope["type"] == "websocket":  # no response headers to carry a cookie
            await self.app(scope, receive, send)
            return
        failed = False

        async def send_with_cookie(message: Message) -> None:
            nonlocal failed
            if failed:
                return
            if message["type"] == "http.response.start":
                try:
                    header = await self._commit(sid, session_live, before, data, control)
                except FAILURES as error:
                    failed = True
                    await self._unavailable(scope, send, error)
                    return
                if header is not None:
                    message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    async def _commit(
        self,
        sid: str | None,
        live: bool,
        before: bytes,
        data: dict[str, Any],
        control: _Control,
    ) -> tuple[bytes, bytes] | None:
        """Save what changed; the cookie header to send, if any."""
        store = self.store
        if control.end:
            if control.everywhere and control.user:
                await store.destroy_user(control.user)
            if sid and live:
                await store.destroy(sid)
            return self._cookie_header("", 0) if sid else None
        if control.rotate:
            new = await store.rotate(sid, user=control.user) if sid and live else None
            if new is None:
                new = await store.create(data, user=control.user)
            elif (payload := store._encode(data)) != before:
                await store._write(new, payload)
            return self._cookie_header(new, self._max_age)
        if live and sid:
            payload = store._encode(data)
            if payload != before and not await store._write(sid, payload):
                sid = await store.create(data)  # it expired meanwhile: start again
            return self._cookie_header(sid, self._max_age)
        if data:
            return self._cookie_header(await store.create(data), self._max_age)
        return self._cookie_header("", 0) if sid else None  # clear a dead cookie

    async def _unavailable(self, scope: Scope, send: Send, error: BaseException) -> None:
        log.warning("session store unreachable (%r); answering %d", error, self.unavailable_status)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1011})
            return
        await send_text(send, self.unavailable_status, b"session store unavailable")
