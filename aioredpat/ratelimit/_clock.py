"""The fallback clock for servers that refuse ``TIME`` inside scripts.

Scripts read the server's clock themselves. A server configured to replicate scripts
verbatim refuses writes after ``TIME``; there the limiter passes the time as an argument,
taken from this clock: the client's wall clock corrected by its measured offset to the
server's, measured again every ``resync_interval`` seconds. The raw client clock is never
used.
"""

from __future__ import annotations

import time

from .._executor import Executor

__all__ = ("ServerClock",)


class ServerClock:
    """The server's clock as seen from here, in microseconds."""

    def __init__(self, executor: Executor, *, resync_interval: float = 30.0) -> None:
        self._executor = executor
        self._resync_interval = resync_interval
        self._offset_us: float | None = None
        self._synced_at = 0.0

    async def sync(self) -> None:
        """Measure the offset with one ``TIME`` round trip, taking the middle of the trip."""
        sent = time.time()
        seconds, micros = await self._executor.execute("TIME")
        received = time.time()
        server_us = int(seconds) * 1_000_000 + int(micros)
        self._offset_us = server_us - (sent + received) / 2 * 1e6
        self._synced_at = time.monotonic()

    async def now_us(self) -> int:
        if self._offset_us is None or time.monotonic() - self._synced_at > self._resync_interval:
            await self.sync()
        assert self._offset_us is not None
        return int(time.time() * 1e6 + self._offset_us)
