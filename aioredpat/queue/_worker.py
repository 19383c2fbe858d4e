"""``QueueWorker``: takes jobs, runs the handler, records how each ended.

One fetcher task takes jobs (``queue_take.lua``), never more than there are free slots, so a
worker holds no job it is not running. When the queue is empty it blocks on the queue's
wake list for up to ``block`` seconds (or until the next delayed job is due), then takes
again: an idle worker sends about one command a second, whatever its ``concurrency``. Each
job runs in its own task; how it ended (done, retry, dead, given back) is recorded by
``queue_finish.lua`` before its slot counts as free, so the slot's next job is taken only
after. Concurrent records leave together (the executor batches them). A keeper task
renews the leases of the jobs held every third of the visibility timeout.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from .._backoff import FAILURES, Backoff
from .._checks import OneRun, check_async, check_count, check_seconds
from .._executor import as_text
from .._telemetry import INSTRUMENTS, attributes, span, tracing
from .._types import Duration
from ._job import Job
from ._queue import FINISH, RENEW, TAKE

if TYPE_CHECKING:
    from ._queue import JobQueue

__all__ = ("QueueWorker",)

log = logging.getLogger("aioredpat")

T = TypeVar("T")

Outcome = tuple[str, str]  # (outcome, detail) as queue_finish.lua takes them
RENEW_CHUNK = 2000  # jobs per renewal call: Lua's unpack() takes at most about 8000 values


class QueueWorker(Generic[T]):
    """Runs ``handler`` on a ``JobQueue``'s jobs, ``concurrency`` at a time.

    ``async with worker:`` runs it in the background; ``await worker.run()`` runs it until
    cancelled. Leaving stops taking jobs, waits up to ``shutdown_timeout`` for running
    handlers, then cancels the rest and gives their jobs back at once, as it does with
    jobs taken but not started. ``completed``, ``failed`` and ``dead`` count this worker's
    outcomes.
    """

    def __init__(
        self,
        queue: JobQueue[T],
        handler: Callable[[Job[T]], Awaitable[None]],
        *,
        concurrency: int = 1,
        shutdown_timeout: Duration = 30.0,
        block: Duration = 2.0,
    ) -> None:
        self.queue = queue
        check_async("handler", handler)
        self.handler = handler
        self.concurrency = check_count("concurrency", concurrency)
        self.shutdown_timeout = check_seconds("shutdown_timeout", shutdown_timeout, allow_zero=True)
        self.block = check_seconds("block", block, minimum=0.01)
        self.completed = self.failed = self.dead = 0
        self._span_attrs = attributes(queue=queue.name, namespace=queue.namespace)
        self._outcomes = {
            outcome: attributes(queue=queue.name, namespace=queue.namespace, outcome=outcome)
            for outcome in ("completed", "failed", "dead")
        }
        self._executor = queue._executor
        self._run = OneRun()

    def __repr__(self) -> str:
        return f"QueueWorker({self.queue.name!r}, concurrency={self.concurrency})"

    async def __aenter__(self) -> QueueWorker[T]:
        self._run.enter(self)
        self._held: dict[str, str] = {}  # job id -> its attempt, for every job taken
        self._scopes: dict[str, anyio.CancelScope] = {}  # of the handlers running
        self._room = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._fetch_scope = anyio.CancelScope()
        self._fetch_done = asyncio.Event()
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._fetch_loop)
        self._tasks.start_soon(self._keep_loop)
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            with anyio.CancelScope(shield=True):
                await self._drain()
        finally:
            self._tasks.cancel_scope.cancel()
            self._run.exit()
        return await self._tasks.__aexit__(*exc_info)

    async def run(self) -> None:
        """Run until cancelled; then stop as leaving ``async with`` does."""
        async with self:
            await anyio.sleep_forever()

    async def _drain(self) -> None:
        self._stopping = True
        self._fetch_scope.cancel()
        await self._fetch_done.wait()
        with anyio.move_on_after(self.shutdown_timeout):
            await self._idle.wait()
        for scope in list(self._scopes.values()):
            scope.cancel()  # its job is given back as the handler's task ends
        await self._idle.wait()

    # -- taking ---------------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        backoff = Backoff()
        wait: float | None = None  # block on the wake list first, for this long
        try:
            with self._fetch_scope:
                while True:
                    while len(self._held) >= self.concurrency:
                        self._room.clear()
                        await self._room.wait()
                    try:
                        if wait is not None:
                            await self._executor.execute("BLPOP", self.queue.keys[7], wait)
                        room = self.concurrency - len(self._held)
                        taken, next_due = await self._take(room)
                        backoff.reset()
                    except FAILURES as error:
                        log.warning("%r: taking jobs failed (%r); retrying", self, error)
                        await backoff.sleep()
                        continue
                    wait = None
                    if len(taken) < room:  # nothing more waiting: block until woken
                        wait = self._block_for(next_due)
        finally:
            self._fetch_done.set()

    def _block_for(self, next_due_ms: int) -> float:
        """How long to block: ``block``, less when a delayed job is due sooner, and well
        within the socket timeout (a blocked read past it would count as a failure)."""
        wait = self.block
        if next_due_ms >= 0:
            wait = min(wait, next_due_ms / 1000 + 0.001)
        timeout = self._executor.client.get_connection_kwargs().get("socket_timeout")
        if timeout is not None:
            wait = min(wait, float(timeout) / 2)
        return max(wait, 0.01)

    async def _take(self, room: int) -> tuple[list[str], int]:
        """Take up to ``room`` jobs and start them; a take on the wire is never abandoned
        (its jobs would wait out their lease), so it is shielded from cancellation."""
        queue = self.queue
        with anyio.CancelScope(shield=True):
            taken, next_due = await self._executor.run_script(
                TAKE, queue.keys, (room, queue._lease_ms, queue.max_attempts, queue.max_dead)
            )
        ids = []
        for i in range(0, len(taken), 4):
            job_id, attempt, data, error = taken[i : i + 4]
            job_id, attempt = as_text(job_id), str(attempt)
            ids.append(job_id)
            self._held[job_id] = attempt
            self._idle.clear()
            self._tasks.start_soon(self._run_job, job_id, attempt, data, as_text(error) or None)
        return ids, int(next_due)

    # -- running --------------------------------------------------------------------------

    async def _run_job(self, job_id: str, attempt: str, data: bytes, error: str | None) -> None:
        outcome: Outcome = ("back", "1")  # given back unless it starts
        try:
            if not self._stopping:
                scope = self._scopes[job_id] = anyio.CancelScope()
                outcome = ("back", "0")  # interrupted unless it ends
                with scope:
                    outcome = await self._call(job_id, int(attempt), data, error)
            await self._record(job_id, attempt, outcome)
        finally:
            self._scopes.pop(job_id, None)
            del self._held[job_id]
            self._room.set()
            if not self._held:
                self._idle.set()

    async def _call(self, job_id: str, attempt: int, data: bytes, error: str | None) -> Outcome:
        queue = self.queue
        try:
            value = queue._serializer.loads(data)
        except Exception as exc:
            log.warning("%r: job %s cannot be decoded (%r); it is dead", self, job_id, exc)
            self._counted("dead")
            return ("dead", f"undecodable: {exc!r}")
        try:
            if tracing():
                with span("aioredpat.queue.process", self._span_attrs):
                    await self.handler(Job(job_id, value, attempt, error))
            else:
                await self.handler(Job(job_id, value, attempt, error))
        except Exception as exc:
            self._counted("failed")
            reason = f"{exc!r}"
            if attempt >= queue.max_attempts:
                log.warning("%r: job %s failed on its last try (%s); dead", self, job_id, reason)
                self._counted("dead")
                return ("dead", reason)
            delay = queue.retry_after(attempt)
            log.info("%r: job %s failed (%s); retrying in %.1fs", self, job_id, reason, delay)
            return ("retry", f"{math.ceil(delay * 1000)}|{reason}")
        self._counted("completed")
        return ("done", "")

    def _counted(self, outcome: str) -> None:
        if outcome == "completed":
            self.completed += 1
        elif outcome == "failed":
            self.failed += 1
        else:
            self.dead += 1
        if INSTRUMENTS is not None:
            INSTRUMENTS.queue_jobs.add(1, self._outcomes[outcome])

    async def _record(self, job_id: str, attempt: str, outcome: Outcome) -> None:
        """Record how a job ended, retrying through failures while its lease lasts (past
        that, another worker may have it: the record would be refused anyway)."""
        queue = self.queue
        args = (queue.max_dead, job_id, attempt, *outcome)
        backoff = Backoff()
        with anyio.CancelScope(shield=True), anyio.move_on_after(queue.visibility_timeout):
            while True:
                try:
                    await self._executor.run_script(FINISH, queue.keys, args)
                    return
                except FAILURES as error:
                    log.warning("%r: recording job %s failed (%r); retrying", self, job_id, error)
                    await backoff.sleep()
        log.warning("%r: job %s could not be recorded as %s", self, job_id, outcome[0])

    # -- keeping leases -------------------------------------------------------------------

    async def _keep_loop(self) -> None:
        queue = self.queue
        while True:
            await anyio.sleep(queue.visibility_timeout / 3)
            held = list(self._held.items())
            for start in range(0, len(held), RENEW_CHUNK):
                pairs = [part for item in held[start : start + RENEW_CHUNK] for part in item]
                try:
                    lost = await self._executor.run_script(
                        RENEW, queue.keys, (queue._lease_ms, *pairs)
                    )
                except FAILURES as error:
                    log.warning("%r: renewing leases failed (%r)", self, error)
                    continue
                for job_id in lost:
                    log.warning(
                        "%r: the lease of job %s was lost (its end will not be recorded)",
                        self, as_text(job_id),
                    )  # fmt: skip
