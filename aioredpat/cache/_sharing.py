"""Concurrent GETs of one key share one reply while it is on the wire."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from .._executor import Executor

__all__ = ("SharedReads",)


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled. Python 3.10 cannot tell: there
    the answer is no, so a reader whose shared GET was cancelled reads for itself."""
    task = asyncio.current_task()
    return task is None or (sys.version_info >= (3, 11) and task.cancelling() > 0)


class SharedReads:
    """A hot key read by many tasks at once costs one GET per round trip instead of one
    per task. A write through the cache (``set``, ``delete``, ``invalidate_tags``) ends the
    sharing (``forget``), so a read that starts after it never gets an older reply. The
    first reader only leaves a slot; a future is made when a second one arrives.
    """

    __slots__ = ("_executor", "_reads")

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._reads: dict[str, list[asyncio.Future[bytes | None] | None]] = {}

    async def get(self, key: str) -> bytes | None:
        slot = self._reads.get(key)
        if slot is not None:
            shared = slot[0]
            if shared is None:
                shared = slot[0] = asyncio.get_running_loop().create_future()
            try:
                return await asyncio.shield(shared)
            except asyncio.CancelledError:
                if not shared.cancelled() or _cancelling():
                    raise
                # the task that sent the GET was cancelled, not this one: read for ourselves
                return await self._executor.get(key)
        slot = self._reads[key] = [None]
        try:
            data = await self._executor.get(key)
        except BaseException as error:
            self._end(key, slot)
            shared = slot[0]
            if shared is not None:
                if isinstance(error, asyncio.CancelledError):
                    shared.cancel()
                else:
                    shared.set_exception(error)
                    shared.exception()  # the callers sharing it raise it; nobody else logs it
            raise
        self._end(key, slot)
        if slot[0] is not None:
            slot[0].set_result(data)
        return data

    def _end(self, key: str, slot: list[Any]) -> None:
        if self._reads.get(key) is slot:
            del self._reads[key]

    def forget(self, key: str | None = None) -> None:
        """Reads from now on send their own GET (of ``key``, or of every key)."""
        if key is None:
            self._reads.clear()
        else:
            self._reads.pop(key, None)
