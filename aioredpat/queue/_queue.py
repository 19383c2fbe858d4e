"""``JobQueue``: enqueueing, and what operators need (stats, dead jobs, cancelling).

A queue is eight keys under one hash tag (one cluster slot), described in
``lua/queue_enqueue.lua``: a waiting list, sorted sets of delayed, running (by lease end)
and dead jobs, hashes of the jobs' data, attempts and last errors, and a one-token wake
list that idle workers block on. Every change is one script, so a job is always in exactly
one of waiting, delayed, running or dead, and a completed job leaves nothing behind.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Awaitable, Callable
from types import UnionType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .._checks import check_count, check_name, check_seconds
from .._executor import as_text, executor_for
from .._keys import KeyBuilder, check_namespace
from .._scripts import LuaScript
from .._telemetry import INSTRUMENTS, attributes, span, tracing
from .._types import Connection, Duration
from ..errors import ConfigurationError
from ..serializers import Serializer, resolve_serializer
from ._job import Job, QueueStats

if TYPE_CHECKING:
    from ._worker import QueueWorker

__all__ = ("JobQueue",)

T = TypeVar("T")

ENQUEUE = LuaScript("queue_enqueue")
TAKE = LuaScript("queue_take")
FINISH = LuaScript("queue_finish")
RENEW = LuaScript("queue_renew")
DEAD = LuaScript("queue_dead")
CANCEL = LuaScript("queue_cancel")

PARTS = ("w", "d", "r", "x", "j", "a", "e", "s")  # the keys' order in every queue script


class JobQueue(Generic[T]):
    """A reliable job queue: at-least-once delivery with leases, retries with backoff,
    delayed jobs, dedup by ``job_id`` and dead jobs kept for inspection.

    ``visibility_timeout`` is a taken job's lease: its worker renews it while the handler
    runs, so only a job whose worker died (or lost Redis for that long) runs again. A
    job that fails ``max_attempts`` times is dead; the ``max_dead`` newest dead jobs are
    kept. Retries wait ``retry_delay`` seconds, doubled for each attempt up to
    ``max_retry_delay``, with jitter (between half and one and a half times that).
    """

    @overload
    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        namespace: str = "queue",
        model: type[T],
        max_attempts: int = 3,
        visibility_timeout: Duration = 30.0,
        retry_delay: Duration = 1.0,
        max_retry_delay: Duration = 300.0,
        max_dead: int = 10_000,
    ) -> None: ...
    @overload
    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        namespace: str = "queue",
        serializer: Serializer[T],
        max_attempts: int = 3,
        visibility_timeout: Duration = 30.0,
        retry_delay: Duration = 1.0,
        max_retry_delay: Duration = 300.0,
        max_dead: int = 10_000,
    ) -> None: ...
    @overload
    def __init__(
        self: JobQueue[Any],
        conn: Connection,
        name: str,
        *,
        namespace: str = "queue",
        model: UnionType | None = None,
        max_attempts: int = 3,
        visibility_timeout: Duration = 30.0,
        retry_delay: Duration = 1.0,
        max_retry_delay: Duration = 300.0,
        max_dead: int = 10_000,
    ) -> None: ...
    def __init__(
        self,
        conn: Connection,
        name: str,
        *,
        namespace: str = "queue",
        model: Any = None,
        serializer: Serializer[T] | None = None,
        max_attempts: int = 3,
        visibility_timeout: Duration = 30.0,
        retry_delay: Duration = 1.0,
        max_retry_delay: Duration = 300.0,
        max_dead: int = 10_000,
    ) -> None:
        self.name = check_name("name", name)
        self.namespace = check_namespace(namespace)
        self.max_attempts = check_count("max_attempts", max_attempts)
        self.visibility_timeout = check_seconds(
            "visibility_timeout", visibility_timeout, minimum=0.01
        )
        self.retry_delay = check_seconds("retry_delay", retry_delay, allow_zero=True, minimum=0.001)
        self.max_retry_delay = check_seconds("max_retry_delay", max_retry_delay, minimum=0.001)
        if self.max_retry_delay < self.retry_delay:
            raise ConfigurationError(
                f"max_retry_delay ({max_retry_delay!r}) must be at least "
                f"retry_delay ({retry_delay!r})"
            )
        self.max_dead = check_count("max_dead", max_dead)
        self._executor = executor_for(conn)
        self._serializer: Serializer[T] = resolve_serializer(model, serializer)
        builder = KeyBuilder(self.namespace)
        self.keys: tuple[str, ...] = tuple(builder.key(self.name, part) for part in PARTS)
        self._lease_ms = math.ceil(self.visibility_timeout * 1000)
        self._attrs = attributes(queue=self.name, namespace=self.namespace)

    def __repr__(self) -> str:
        return f"JobQueue({self.name!r}, namespace={self.namespace!r})"

    async def enqueue(self, value: T, *, delay: Duration = 0.0, job_id: str | None = None) -> str:
        """Add a job; its id. ``delay`` (seconds or a ``timedelta``) counts on the server's
        clock. With ``job_id``, an id still waiting, delayed or running is not enqueued
        again (the call returns it and changes nothing); a dead one starts over.
        Concurrent calls leave together, one round trip per burst."""
        delay_ms = math.ceil(check_seconds("delay", delay, allow_zero=True, minimum=0.001) * 1000)
        if job_id is None:
            job_id = uuid.uuid4().hex
        else:
            check_name("job_id", job_id)
        data = self._executor.sized(self._serializer.dumps(value))
        if tracing():
            with span("aioredpat.queue.enqueue", self._attrs):
                await self._executor.run_script(ENQUEUE, self.keys, (job_id, data, delay_ms))
        else:
            await self._executor.run_script(ENQUEUE, self.keys, (job_id, data, delay_ms))
        if INSTRUMENTS is not None:
            INSTRUMENTS.queue_enqueued.add(1, self._attrs)
        return job_id

    def worker(
        self,
        handler: Callable[[Job[T]], Awaitable[None]],
        *,
        concurrency: int = 1,
        shutdown_timeout: Duration = 30.0,
        block: Duration = 2.0,
    ) -> QueueWorker[T]:
        """A worker running ``handler`` on this queue's jobs, ``concurrency`` at a time:
        ``async with worker:`` runs it in the background, ``await worker.run()`` until
        cancelled. An idle worker waits on Redis for up to ``block`` seconds at a time."""
        from ._worker import QueueWorker

        return QueueWorker(
            self, handler, concurrency=concurrency, shutdown_timeout=shutdown_timeout, block=block
        )

    async def stats(self) -> QueueStats:
        """How many jobs are waiting, delayed, running and dead: one round trip."""
        waiting, delayed, running, dead, *_ = self.keys
        batch = self._executor.batch()
        batch.command("LLEN", waiting)
        for key in (delayed, running, dead):
            batch.command("ZCARD", key)
        counts = await batch.execute()
        return QueueStats(*map(int, counts))

    async def dead(self, limit: int = 100) -> list[Job[T]]:
        """Up to ``limit`` dead jobs, oldest first, each with the reason it died in
        ``error``. One whose data no longer decodes comes back with its raw bytes."""
        check_count("limit", limit)
        found = await self._executor.run_script(DEAD, self.keys, (limit, "read"))
        jobs: list[Job[T]] = []
        for i in range(0, len(found), 4):
            job_id, attempts, data, error = found[i : i + 4]
            try:
                value: Any = self._serializer.loads(data)
            except Exception:
                value = data
            jobs.append(Job(as_text(job_id), value, int(attempts), as_text(error) or None))
        return jobs

    async def retry_dead(self) -> int:
        """Put every dead job back in the waiting list (each starts again at attempt 1);
        how many were put back. Works through the dead jobs in batches of 1000."""
        total = 0
        while moved := int(await self._executor.run_script(DEAD, self.keys, (1000, "retry"))):
            total += moved
        return total

    async def cancel(self, job_id: str) -> bool:
        """Remove a job wherever it is (waiting, delayed, running or dead); whether there
        was one. A running job's handler is not interrupted, but the job will not run
        again, and its end is not recorded."""
        check_name("job_id", job_id)
        return bool(await self._executor.run_script(CANCEL, self.keys, (job_id,)))

    # -- for workers --------------------------------------------------------------------

    def retry_after(self, attempt: int) -> float:
        """Seconds before a job that failed on ``attempt`` runs again: exponential, jittered."""
        base = min(self.retry_delay * 2.0 ** min(attempt - 1, 60), self.max_retry_delay)
        return base * (0.5 + random.random())
