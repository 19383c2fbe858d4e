"""Refreshing ahead of expiry: stale-while-revalidate and XFetch's early refresh.

A hit on an entry past its freshness (with ``stale_ttl``) or, with ``early_refresh=beta``,
on one close to it (XFetch: with a probability that grows as expiry nears and with the
load time) starts one background load, one process at a time (under the lease), while
everyone keeps being served the current value.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random

from ._entry import Entry, Timings
from ._layout import now_ms
from ._loading import Loader, Loads

__all__ = ("Refresher",)

log = logging.getLogger("aioredpat")


class Refresher:
    __slots__ = ("_loads", "_owner", "_running", "_timings")

    def __init__(self, owner: object, loads: Loads, timings: Timings) -> None:
        self._owner = owner
        self._loads = loads
        self._timings = timings
        self._running: dict[str, asyncio.Task[None]] = {}

    def after_hit(self, name: str, entry: Entry, loader: Loader, tags: tuple[str, ...]) -> None:
        """Start a background refresh of ``name`` if its entry is stale or (XFetch) about
        to expire; concurrent hits start no second one."""
        if name in self._running:
            return
        now = now_ms()
        if entry.fresh_until_ms > now:
            beta = self._timings.early_refresh
            if beta is None:
                return
            gap = -entry.delta_ms * beta * math.log(1.0 - random.random())
            if now + gap < entry.fresh_until_ms:
                return
        elif self._timings.stale_ttl is None:
            return  # past its time by this machine's clock only: Redis has not expired it
        task = asyncio.ensure_future(self._refresh(name, loader, tags))
        self._running[name] = task
        task.add_done_callback(lambda done: self._running.pop(name, None))

    async def _refresh(self, name: str, loader: Loader, tags: tuple[str, ...]) -> None:
        try:
            await self._loads.refresh(name, loader, tags)
        except Exception as error:
            log.warning("%r: refreshing %r failed (%r)", self._owner, name, error)
