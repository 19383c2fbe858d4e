"""Waiting for a state in tests: generous bounds, no timing assertions."""

from __future__ import annotations

import asyncio

import anyio


async def eventually(condition, *, bound: float = 20.0) -> None:
    """Wait for ``condition()`` (sync or async) to hold, failing after ``bound`` seconds."""
    with anyio.fail_after(bound):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)
