"""ASGI middleware that rate-limits HTTP requests with any aioredpat limiter.

Pure ASGI, so it wraps Starlette, FastAPI, Quart or any ASGI application::

    limiter = SlidingWindow(pool, namespace="api", limit=100, window=60)
    app = RateLimitMiddleware(app, limiter=limiter)

Each HTTP request costs one EVALSHA. Allowed requests pass through with the IETF
``RateLimit-Policy`` and ``RateLimit`` headers added to the response; denied ones get
``429 Too Many Requests`` with ``Retry-After`` and the same headers, and never reach the app.
WebSocket and lifespan messages pass through untouched.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable

from .._asgi import ASGIApp, Message, Receive, Scope, Send, send_text
from .._backoff import FAILURES
from .._breaker import Breaker, BreakerOpen
from ._base import Limiter
from ._result import RateLimitResult

__all__ = ("RateLimitMiddleware", "client_address")

log = logging.getLogger("aioredpat")

Identify = Callable[[Scope], "Awaitable[str | None] | str | None"]


def client_address(scope: Scope) -> str | None:
    """The default identifier: the client's IP address (``None`` when the server gives none).

    Behind a proxy, pass an ``identify`` that reads the forwarded address you trust instead.
    """
    client = scope.get("client")
    return str(client[0]) if client else None


class RateLimitMiddleware:
    """Limits each HTTP request by ``identify(scope)``; requests it maps to ``None`` pass freely.

    - ``limiter``: any aioredpat limiter (``TokenBucket``, ``SlidingWindow``, ``MultiLimit`` ...);
    - ``identify``: ``(scope) -> str | None``, sync or async; the client address by default;
    - ``cost``: an int, or ``(scope) -> int`` to charge some routes more;
    - ``policy_name``: the name given to the policy in the headers;
    - ``fail_open``: when Redis cannot be reached, let requests through unlimited (and
      without rate-limit headers) instead of failing them. The limiter's call then gives up
      after the socket timeout, and while Redis is known to be down requests pass at once
      without trying it (one request probes again each second). Off by default: the error
      propagates, and the application answers it as it answers any other.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Limiter,
        identify: Identify = client_address,
        cost: int | Callable[[Scope], int] = 1,
        policy_name: str = "default",
        fail_open: bool = False,
    ) -> None:
        self.app = app
        self.fail_open = bool(fail_open)
        executor = getattr(limiter, "_executor", None)
        timeout = getattr(executor, "call_timeout", None)
        self._breaker = Breaker(None if timeout is None else timeout / 2) if fail_open else None
        self.limiter = limiter
        self.identify = identify
        self.cost = cost
        name = policy_name.replace("\\", "\\\\").replace('"', '\\"')
        self._name = name
        self._policy = ", ".join(
            f'"{name}";q={quota};w={max(1, math.ceil(window))}' if i == 0 else
            f'"{name}-{i}";q={quota};w={max(1, math.ceil(window))}'
            for i, (quota, window) in enumerate(limiter.policies())
        ).encode("latin-1")  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        identifier = self.identify(scope)
        if inspect.isawaitable(identifier):
            identifier = await identifier
        if identifier is None:
            await self.app(scope, receive, send)
            return
        cost = self.cost(scope) if callable(self.cost) else self.cost
        if self._breaker is None:
            result = await self.limiter.hit(identifier, cost)
        else:
            try:
                async with self._breaker.guard():
                    result = await self.limiter.hit(identifier, cost)
            except FAILURES as error:
                self._warn_open(error)
                await self.app(scope, receive, send)  # fail open: unlimited, no headers
                return
        headers = self._headers(result)
        if not result.allowed:
            await self._deny(send, result, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _warn_open(self, error: Exception) -> None:
        if not isinstance(error, BreakerOpen):  # once per failure, not once per request
            log.warning("rate limiting is off while Redis is unreachable (%r)", error)

    def _headers(self, result: RateLimitResult) -> list[tuple[bytes, bytes]]:
        state = f'"{self._name}";r={result.remaining};t={math.ceil(result.reset_after)}'
        return [(b"ratelimit-policy", self._policy), (b"ratelimit", state.encode("latin-1"))]

    @staticmethod
    async def _deny(
        send: Send, result: RateLimitResult, headers: list[tuple[bytes, bytes]]
    ) -> None:
        retry_after = str(max(1, math.ceil(result.retry_after))).encode()
        await send_text(send, 429, b"Too Many Requests", [(b"retry-after", retry_after), *headers])
