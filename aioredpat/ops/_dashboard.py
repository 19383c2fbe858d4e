"""The dashboard: one page showing what ``doctor`` and ``inspect`` say, refreshed every
second, with charts of stream lag and queue depth over time.

``dashboard_app(url)`` is a plain ASGI app (mount it in any ASGI server or framework);
``aioredpat dashboard`` serves it on a local port. ``GET /`` is the page, ``GET /api/state``
the JSON it polls. What it shows is found by scanning (streams by type, queues and locks
by their key layout), unless ``streams``, ``queues`` or ``locks`` are given.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._asgi import Receive, Scope, Send, send_text
from ._client import Client, connect, scan_keys, text
from ._doctor import doctor
from ._inspect import inspect_lock, inspect_queue, inspect_stream

__all__ = ("dashboard_app",)

LAYOUT = re.compile(r"^(?P<ns>.+?):\{(?P<obj>[^}]*)\}:(?P<part>[a-z]+)$")
DOCTOR_EVERY = 10.0  # seconds between two doctor runs (it samples keys)
Pair = tuple[str, str]  # (namespace, name)


class Dashboard:
    def __init__(
        self,
        url: str,
        *,
        streams: Sequence[str] | None = None,
        queues: Sequence[tuple[str, str]] | None = None,
        locks: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.url = url
        self.streams, self.queues, self.locks = streams, queues, locks
        self._client: Client | None = None
        self._checks: list[dict[str, str]] = []
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/") or "/"
        if path.endswith("/api/state"):
            state = await self.state()
            body = json.dumps(state, default=str).encode()
            await send_text(send, 200, body, content_type=b"application/json")
        elif path == "/" or path == scope.get("root_path", "").rstrip("/"):
            await send_text(send, 200, PAGE.encode(), content_type=b"text/html; charset=utf-8")
        else:
            await send_text(send, 404, b"not found")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def state(self) -> dict[str, Any]:
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.url)
            client = self._client
            streams, queues, locks = await self._discover(client)
            if time.monotonic() - self._checked > DOCTOR_EVERY:
                self._checks = [c.as_dict() for c in await doctor(client, sample=500)]
                self._checked = time.monotonic()
            return {
                "at": time.time(),
                "checks": self._checks,
                "streams": [await inspect_stream(client, s) for s in streams],
                "queues": [await inspect_queue(client, n, namespace=ns) for ns, n in queues],
                "locks": [await inspect_lock(client, n, namespace=ns) for ns, n in locks],
            }

    async def _discover(
        self, client: Client
    ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
        if self.streams is not None and self.queues is not None and self.locks is not None:
            return list(self.streams), list(self.queues), list(self.locks)
        streams: set[str] = set()
        queues: set[tuple[str, str]] = set()
        locks: set[tuple[str, str]] = set()
        async for _node, key in scan_keys(client, limit=2000):
            name = text(key)
            match = LAYOUT.match(name)
            if match is not None and match["part"] in ("w", "d", "r", "x", "j"):
                queues.add((match["ns"], match["obj"]))
            elif match is not None and match["part"] == "held":
                locks.add((match["ns"], match["obj"]))
            elif not name.endswith(":dead"):
                kind = text(await client.type(key))
                if kind == "stream":
                    groups = await client.xinfo_groups(key)
                    if groups:
                        streams.add(name)
        return (
            sorted(streams) if self.streams is None else list(self.streams),
            sorted(queues) if self.queues is None else list(self.queues),
            sorted(locks) if self.locks is None else list(self.locks),
        )


def dashboard_app(
    url: str,
    *,
    streams: Sequence[str] | None = None,
    queues: Sequence[tuple[str, str]] | None = None,
    locks: Sequence[tuple[str, str]] | None = None,
) -> Dashboard:
    """The dashboard as an ASGI app for the server at ``url``. ``queues`` and ``locks`` are
    ``(namespace, name)`` pairs; left out, what there is gets found by scanning."""
    return Dashboard(url, streams=streams, queues=queues, locks=locks)


PAGE = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")
