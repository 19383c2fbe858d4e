"""A web server under test, as a process of its own on a free port of localhost."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from aioredpat._launcher import free_port
from tests._wait import eventually

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def serving(
    command: Callable[[int], Sequence[str]], env: dict[str, str] | None = None
) -> AsyncIterator[int]:
    """Start ``command(port)``, wait until the port accepts connections, yield the port;
    the process is stopped on exit."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *command(port), cwd=ROOT, env={**os.environ, **(env or {})}
    )

    async def listening() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    try:
        await eventually(listening, bound=30)
        yield port
    finally:
        server.terminate()
        await server.wait()
