"""JobQueue and QueueWorker against real servers (standalone and cluster)."""

from __future__ import annotations

import asyncio
import collections
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pydantic
import pytest

from aioredpat import ConfigurationError, Job, JobQueue, QueueStats, RedisPool, SerializationError
from aioredpat.testing import command_counts, reset_command_counts
from tests._wait import eventually

ROOT = Path(__file__).resolve().parents[2]


class Email(pydantic.BaseModel):
    to: str
    n: int = 0


async def server_ms(pool: RedisPool, key: str) -> int:
    """The server's clock, in ms, on the node holding ``key``."""
    seconds, micros = await pool.client.execute_command("EVAL", "return redis.call('TIME')", 1, key)
    return int(seconds) * 1000 + int(micros) // 1000


async def all_keys(pool: RedisPool) -> list[bytes]:
    return [key async for key in pool.client.scan_iter(count=1000)]


async def test_jobs_run_typed_once_and_leave_nothing_behind(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "emails", model=Email)
    ids = [await queue.enqueue(Email(to=f"u{i}@x", n=i)) for i in range(50)]
    assert await queue.stats() == QueueStats(waiting=50, delayed=0, running=0, dead=0)
    seen: list[Job[Email]] = []

    async def send(job: Job[Email]) -> None:
        seen.append(job)

    worker = queue.worker(send, concurrency=8)
    async with worker:
        await eventually(lambda: len(seen) == 50)
        await eventually(lambda: worker.completed == 50)
    assert sorted(job.id for job in seen) == sorted(ids)
    assert all(
        isinstance(job.data, Email) and job.attempt == 1 and job.error is None for job in seen
    )
    assert [job.data.n for job in seen] == list(range(50))  # first in, first out
    assert await queue.stats() == QueueStats(waiting=0, delayed=0, running=0, dead=0)
    assert await all_keys(aioredpat_conn) == []


async def test_a_job_id_is_enqueued_once_while_waiting_delayed_or_running(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "reports", model=int)
    assert await queue.enqueue(1, job_id="daily") == "daily"
    assert await queue.enqueue(2, job_id="daily") == "daily"
    assert await queue.enqueue(3, job_id="weekly", delay=60) == "weekly"
    assert await queue.enqueue(4, job_id="weekly") == "weekly"
    assert await queue.stats() == QueueStats(waiting=1, delayed=1, running=0, dead=0)
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[tuple[str, int]] = []

    async def report(job: Job[int]) -> None:
        runs.append((job.id, job.data))
        started.set()
        await release.wait()

    async with queue.worker(report):
        await started.wait()
        assert await queue.enqueue(5, job_id="daily") == "daily"  # running: still once
        assert (await queue.stats()).running == 1
        release.set()
        await eventually(lambda: _running_is(queue, 0))
    assert runs == [("daily", 1)]
    assert await queue.enqueue(6, job_id="daily") == "daily"  # completed: a new job
    assert (await queue.stats()).waiting == 1


async def _running_is(queue: JobQueue[int], n: int) -> bool:
    return (await queue.stats()).running == n


async def test_a_delayed_job_never_runs_before_its_delay_on_the_server_clock(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "later", model=int)
    key = queue.keys[0]
    started: list[int] = []

    async def handle(job: Job[int]) -> None:
        started.append(await server_ms(aioredpat_conn, key))

    async with queue.worker(handle, concurrency=2):
        before = await server_ms(aioredpat_conn, key)
        await queue.enqueue(1, delay=timedelta(milliseconds=700))
        await queue.enqueue(2, delay=0.3)
        await queue.enqueue(3)
        await eventually(lambda: len(started) == 3)
    assert started[0] >= before
    assert started[1] >= before + 300
    assert started[2] >= before + 700


async def test_a_failing_job_runs_max_attempts_times_then_is_dead(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "flaky", model=int, max_attempts=3, retry_delay=0.01)
    tries: list[tuple[int, str | None]] = []

    async def fail(job: Job[int]) -> None:
        tries.append((job.attempt, job.error))
        raise ValueError(f"no luck on try {job.attempt}")

    job_id = await queue.enqueue(7)
    worker = queue.worker(fail)
    async with worker:
        await eventually(lambda: _dead_count(queue, 1))
    assert tries == [
        (1, None),
        (2, "ValueError('no luck on try 1')"),
        (3, "ValueError('no luck on try 2')"),
    ]
    assert (worker.failed, worker.dead, worker.completed) == (3, 1, 0)
    [dead] = await queue.dead()
    assert (dead.id, dead.data, dead.attempt) == (job_id, 7, 3)
    assert dead.error == "ValueError('no luck on try 3')"
    assert await queue.stats() == QueueStats(waiting=0, delayed=0, running=0, dead=1)

    assert await queue.retry_dead() == 1
    assert await queue.stats() == QueueStats(waiting=1, delayed=0, running=0, dead=0)
    retried: list[Job[int]] = []

    async def succeed(job: Job[int]) -> None:
        retried.append(job)

    async with queue.worker(succeed):
        await eventually(lambda: retried)
    assert (retried[0].id, retried[0].attempt) == (job_id, 1)
    assert retried[0].error == "ValueError('no luck on try 3')"  # why it was dead
    await eventually(lambda: _dead_count(queue, 0))
    assert await all_keys(aioredpat_conn) == []


async def _dead_count(queue: JobQueue, n: int) -> bool:
    return (await queue.stats()).dead == n


async def test_retries_back_off_exponentially_on_the_server_clock(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "backoff", model=int, max_attempts=3, retry_delay=0.2)
    key = queue.keys[0]
    starts: list[int] = []

    async def fail(job: Job[int]) -> None:
        starts.append(await server_ms(aioredpat_conn, key))
        raise RuntimeError("down")

    await queue.enqueue(1)
    async with queue.worker(fail):
        await eventually(lambda: _dead_count(queue, 1))
    first, second = starts[1] - starts[0], starts[2] - starts[1]
    assert first >= 100  # 0.2 s, jittered by half either way
    assert second >= 200  # 0.4 s, jittered


async def test_an_undecodable_job_is_dead_with_the_reason_and_the_queue_goes_on(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "emails", model=Email)
    bad_id = await JobQueue(aioredpat_conn, "emails", model=dict).enqueue({"to": 5})
    good_id = await queue.enqueue(Email(to="a@x"))
    handled: list[str] = []

    async def send(job: Job[Email]) -> None:
        handled.append(job.id)

    async with queue.worker(send):
        await eventually(lambda: handled == [good_id])
        await eventually(lambda: _dead_count(queue, 1))
    [dead] = await queue.dead()
    assert dead.id == bad_id and dead.attempt == 1
    assert dead.error is not None and dead.error.startswith("undecodable")
    assert dead.data == b'{"to":5}'  # kept as it was stored


async def test_cancel_removes_a_job_wherever_it_is(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "cancel", model=int)
    waiting = await queue.enqueue(1)
    delayed = await queue.enqueue(2, delay=60)
    assert await queue.cancel(waiting) and await queue.cancel(delayed)
    assert not await queue.cancel(waiting)
    assert await queue.stats() == QueueStats(waiting=0, delayed=0, running=0, dead=0)
    assert await all_keys(aioredpat_conn) == []


async def test_a_live_slow_job_runs_once_with_two_workers_present(
    aioredpat_conn: RedisPool,
) -> None:
    queue = JobQueue(aioredpat_conn, "slow", model=int, visibility_timeout=1.0)
    calls = 0
    done = asyncio.Event()

    async def slow(job: Job[int]) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3.0)  # three visibility timeouts
        done.set()

    await queue.enqueue(1)
    async with queue.worker(slow), queue.worker(slow):
        with anyio.fail_after(30):
            await done.wait()
        await eventually(lambda: _running_is(queue, 0))
    assert calls == 1
    assert await all_keys(aioredpat_conn) == []


async def test_leaving_gives_interrupted_jobs_back_at_once(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "handover", model=int, visibility_timeout=600)
    started: list[tuple[str, int]] = []

    async def stubborn(job: Job[int]) -> None:
        started.append(("first", job.attempt))
        await asyncio.Event().wait()

    for i in range(3):
        await queue.enqueue(i)
    first = queue.worker(stubborn, concurrency=2, shutdown_timeout=0.2)
    async with first:
        await eventually(lambda: len(started) == 2)
    # the two interrupted jobs are waiting again, in front, long before their lease ends
    assert await queue.stats() == QueueStats(waiting=3, delayed=0, running=0, dead=0)
    finished: list[tuple[int, int]] = []

    async def finish(job: Job[int]) -> None:
        finished.append((job.data, job.attempt))

    async with queue.worker(finish, concurrency=3):
        await eventually(lambda: len(finished) == 3)
    assert sorted(finished) == [(0, 2), (1, 2), (2, 1)]


async def test_cancelling_a_running_worker_holds_nothing(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "cancelled", model=int, visibility_timeout=600)
    started = asyncio.Event()

    async def forever(job: Job[int]) -> None:
        started.set()
        await asyncio.Event().wait()

    await queue.enqueue(1)
    await queue.enqueue(2)
    worker = queue.worker(forever, shutdown_timeout=0)
    task = asyncio.create_task(worker.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await queue.stats() == QueueStats(waiting=2, delayed=0, running=0, dead=0)
    with pytest.raises(RuntimeError, match="already ran"):
        async with worker:
            pass


async def test_an_idle_worker_sends_about_one_command_a_second(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "idle", model=int)

    async def handle(job: Job[int]) -> None:
        pass

    async with queue.worker(handle, concurrency=32):
        await eventually(lambda: _commands(aioredpat_conn, "blpop"))  # settled: blocking
        await reset_command_counts(aioredpat_conn)
        began = time.monotonic()
        await anyio.sleep(5)
        counts = await command_counts(aioredpat_conn)
        elapsed = time.monotonic() - began
    sent = counts["evalsha"] + counts["blpop"]
    assert 0 < sent <= elapsed + 2


async def _commands(pool: RedisPool, name: str) -> int:
    return (await command_counts(pool))[name]


async def test_a_job_is_picked_up_at_once_by_a_blocked_worker(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "wake", model=int)
    handled: list[int] = []

    async def handle(job: Job[int]) -> None:
        handled.append(job.data)

    async with queue.worker(handle, block=60):  # without a wake-up it would wait a minute
        await eventually(lambda: _commands(aioredpat_conn, "blpop"))
        for i in range(3):
            await queue.enqueue(i)
        await eventually(lambda: handled == [0, 1, 2], bound=30)


async def test_killed_worker_process_only_its_running_jobs_run_twice(
    aioredpat_conn: RedisPool, request
) -> None:
    if aioredpat_conn.is_cluster:
        kind, urls = "cluster", ",".join(request.getfixturevalue("aioredpat_cluster").urls)
    else:
        kind, urls = "standalone", request.getfixturevalue("aioredpat_redis_url")
    queue = JobQueue(aioredpat_conn, "bulk", model=int, visibility_timeout=2.0)
    ids = await asyncio.gather(*(queue.enqueue(i) for i in range(1000)))

    def start(name: str):
        command = [sys.executable, "-m", "tests.job_queue._worker", kind, urls, "bulk", name]
        return asyncio.create_subprocess_exec(*command, cwd=ROOT)

    workers = {name: await start(name) for name in ("doomed", "a", "b")}
    client = aioredpat_conn.client
    try:
        await eventually(lambda: client.llen("{bulk}:runs:doomed"), bound=60)
        await eventually(lambda: _at_least(client, "{bulk}:runs:doomed", 20), bound=60)
        workers["doomed"].send_signal(signal.SIGKILL)
        await workers["doomed"].wait()
        assert (await queue.stats()).waiting > 0  # killed mid-run
        await eventually(lambda: _drained(queue), bound=120)
    finally:
        for process in workers.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.wait()
    runs = {name: [i.decode() for i in await client.lrange(f"{{bulk}}:runs:{name}", 0, -1)]
            for name in workers}  # fmt: skip
    counts = collections.Counter(job_id for done in runs.values() for job_id in done)
    assert set(counts) == set(ids)  # every job ran
    twice = {job_id for job_id, n in counts.items() if n > 1}
    assert all(n <= 2 for n in counts.values())
    assert twice <= set(runs["doomed"])  # only what the killed worker was running
    assert len(twice) <= 4  # at most its concurrency
    assert await queue.stats() == QueueStats(waiting=0, delayed=0, running=0, dead=0)


async def _at_least(client, key: str, n: int) -> bool:
    return await client.llen(key) >= n


async def _drained(queue: JobQueue) -> bool:
    return await queue.stats() == QueueStats(waiting=0, delayed=0, running=0, dead=0)


async def test_misuse_fails_at_once(aioredpat_conn: RedisPool) -> None:
    queue = JobQueue(aioredpat_conn, "misuse", model=Email)

    def sync_handler(job: Job[Email]) -> None:
        pass

    with pytest.raises(ConfigurationError, match="handler must be an async function"):
        queue.worker(sync_handler)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="concurrency"):
        queue.worker(_noop, concurrency=0)
    with pytest.raises(SerializationError):
        await queue.enqueue({"to": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="delay"):
        await queue.enqueue(Email(to="a"), delay=float("inf"))
    with pytest.raises(ConfigurationError, match="job_id"):
        await queue.enqueue(Email(to="a"), job_id="")
    with pytest.raises(ConfigurationError, match="visibility_timeout"):
        JobQueue(aioredpat_conn, "misuse", visibility_timeout=-1)
    with pytest.raises(ConfigurationError, match="max_attempts"):
        JobQueue(aioredpat_conn, "misuse", max_attempts=0)
    with pytest.raises(ConfigurationError, match="max_retry_delay"):
        JobQueue(aioredpat_conn, "misuse", retry_delay=10, max_retry_delay=1)
    assert await all_keys(aioredpat_conn) == []


async def _noop(job: Job[Email]) -> None:
    pass
