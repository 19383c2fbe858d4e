"""Single flight: one load per key at a time in this process, shared by its callers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ("Flights",)


class Flights:
    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}

    async def run(self, name: str, load: Awaitable[Any]) -> Any:
        """Run ``load`` once per key; every concurrent caller shares it. A cancelled
        caller leaves the load running for the others."""
        task = self._running.get(name)
        if task is None:
            task = asyncio.ensure_future(load)
            self._running[name] = task
            task.add_done_callback(lambda done: self._landed(name, done))
        elif asyncio.iscoroutine(load):
            load.close()  # another caller's load is already running
        return await asyncio.shield(task)

    def _landed(self, name: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(name) is task:
            del self._running[name]
        if not task.cancelled():
            task.exception()  # seen by whoever awaited it; never "never retrieved"
