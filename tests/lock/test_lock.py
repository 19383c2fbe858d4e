from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import anyio
import pytest

from aioredpat import (
    ConfigurationError,
    Lock,
    LockLost,
    LockNotAcquired,
    LockNotOwned,
    RedisPool,
)
from aioredpat.testing import command_counts, reset_command_counts

ROOT = Path(__file__).resolve().parents[2]


async def wait_until(condition, *, bound: float = 10.0) -> None:
    """Wait for a state in Redis (there is nothing to be notified of), failing after ``bound``."""
    with anyio.fail_after(bound):
        while not await condition():  # noqa: ASYNC110 - the state lives in Redis
            await asyncio.sleep(0.01)


async def test_mutual_exclusion_across_three_processes(aioredpat_conn: RedisPool, request) -> None:
    if aioredpat_conn.is_cluster:
        kind, urls = "cluster", ",".join(request.getfixturevalue("aioredpat_cluster").urls)
    else:
        kind, urls = "standalone", request.getfixturevalue("aioredpat_redis_url")
    tasks, rounds = 4, 15
    command = [sys.executable, "-m", "tests.lock._worker", kind, urls, str(tasks), str(rounds)]
    workers = [await asyncio.create_subprocess_exec(*command, cwd=ROOT) for _ in range(3)]
    with anyio.fail_after(120):
        assert [await worker.wait() for worker in workers] == [0, 0, 0]
    assert int(await aioredpat_conn.client.get("exclusion:counter")) == 3 * tasks * rounds


async def test_fencing_tokens_increase_across_objects_and_pools(aioredpat_conn, request) -> None:
    other_url = (
        None if aioredpat_conn.is_cluster else request.getfixturevalue("aioredpat_redis_url")
    )
    other = (
        RedisPool.from_url(other_url)
        if other_url
        else RedisPool.cluster(request.getfixturevalue("aioredpat_cluster").urls)
    )
    async with other:
        locks = [Lock(aioredpat_conn, "fenced", ttl=5), Lock(other, "fenced", ttl=5)]
        tokens = []
        for i in range(12):
            lease = await locks[i % 2].acquire()
            tokens.append(lease.fencing_token)
            await lease.release()
    assert tokens == sorted(set(tokens)) and len(tokens) == 12


async def test_an_expired_lease_cannot_touch_the_next_holder(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "expiring", ttl=0.1)
    first = await lock.acquire()

    async def expired() -> bool:
        return not await lock.locked()

    await wait_until(expired)
    second = await lock.acquire(blocking_timeout=0)
    with pytest.raises(LockNotOwned):
        await first.release()
    with pytest.raises(LockNotOwned):
        await first.extend(5)
    assert await lock.locked()
    assert second.fencing_token > first.fencing_token
    await second.release()
    assert not await lock.locked()


async def test_blocking_timeout_raises_lock_not_acquired(aioredpat_conn: RedisPool) -> None:
    holder = await Lock(aioredpat_conn, "busy", ttl=30).acquire()
    with pytest.raises(LockNotAcquired) as info:
        async with Lock(aioredpat_conn, "busy", ttl=30, blocking_timeout=0.2):
            pytest.fail("must not enter")
    assert info.value.name == "busy"
    with pytest.raises(LockNotAcquired):
        await Lock(aioredpat_conn, "busy", ttl=30).acquire(blocking_timeout=0)
    await holder.release()


async def test_one_lock_object_shared_by_many_tasks(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "shared", ttl=10)
    inside, counter, tokens = 0, 0, []
    await lock.acquire(blocking_timeout=0)  # scripts loaded, then counting starts clean
    await aioredpat_conn.client.delete("lock:{shared}:held")
    await reset_command_counts(aioredpat_conn)

    async def worker() -> None:
        nonlocal inside, counter
        for _ in range(3):
            async with lock as lease:
                inside += 1
                assert inside == 1
                value = counter
                await asyncio.sleep(0.002)
                counter = value + 1
                tokens.append(lease.token)
                inside -= 1

    await asyncio.gather(*(worker() for _ in range(12)))
    assert counter == 36
    assert len(set(tokens)) == 36  # every acquisition had its own lease
    assert not await lock.locked()
    # 36 releases plus about two tries per acquisition: hand-offs arrive as notifications
    # (waiters that missed theirs would try again every second instead)
    assert (await command_counts(aioredpat_conn))["evalsha"] <= 36 + 3 * 36


async def test_release_wakes_a_waiter_without_polling(aioredpat_conn: RedisPool) -> None:
    holder_lock = Lock(aioredpat_conn, "handoff", ttl=60)
    holder = await holder_lock.acquire()
    waiter_lock = Lock(aioredpat_conn, "handoff", ttl=60, blocking_timeout=20)
    await reset_command_counts(aioredpat_conn)
    waiter = asyncio.create_task(waiter_lock.acquire())
    await asyncio.sleep(0.5)
    assert not waiter.done()
    await holder.release()
    # the holder's 60 s ttl and the waiter's 20 s timeout: only a notification ends it sooner
    lease = await asyncio.wait_for(waiter, 10)
    assert lease.fencing_token > holder.fencing_token
    counts = await command_counts(aioredpat_conn)
    assert counts["evalsha"] <= 4  # holder's release and the waiter's 2-3 tries: no polling
    await lease.release()


async def test_a_crashed_holders_lock_is_taken_when_it_expires(aioredpat_conn: RedisPool) -> None:
    await Lock(
        aioredpat_conn, "crashed", ttl=0.3
    ).acquire()  # never released, as if the process died
    lease = await Lock(aioredpat_conn, "crashed", ttl=5, blocking_timeout=20).acquire()
    assert lease.fencing_token == 2
    await lease.release()


async def test_asyncio_cancellation_of_the_block_releases(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "cancel-me", ttl=60)
    entered = asyncio.Event()

    async def body() -> None:
        async with lock:
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(body())
    await entered.wait()
    assert await lock.locked()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await lock.locked()


async def test_anyio_cancel_scope_releases(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "scoped", ttl=60)
    with anyio.move_on_after(0.2) as scope:
        async with lock:
            await anyio.sleep(60)
    assert scope.cancelled_caught
    assert not await lock.locked()
    holder = await lock.acquire()
    with anyio.move_on_after(0.2) as scope:  # cancelled while waiting to acquire
        async with lock:
            pytest.fail("must not enter")
    assert scope.cancelled_caught
    await holder.release()
    assert not await lock.locked()


async def test_cancelled_acquires_never_leave_an_unknown_holder(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "mid-flight", ttl=60)
    rng = random.Random(7)
    for _ in range(60):
        task = asyncio.create_task(lock.acquire(blocking_timeout=5))
        for _ in range(rng.randrange(0, 6)):
            await asyncio.sleep(0)
        task.cancel()
        try:
            lease = await task
        except asyncio.CancelledError:
            pass
        else:
            await lease.release()
        assert not await lock.locked()


async def test_auto_extend_keeps_the_lock_past_its_ttl(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "long-job", ttl=0.3, auto_extend=True)
    async with lock as lease:
        await asyncio.sleep(1.2)
        assert await lock.locked()
        await lease.extend()  # still ours
    assert not await lock.locked()


async def test_a_lost_lease_raises_lock_lost_in_the_body(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "stolen", ttl=0.3, auto_extend=True)
    finished = False
    with pytest.raises(LockLost):
        async with lock:
            await aioredpat_conn.client.delete("lock:{stolen}:held")  # an operator removes it
            await asyncio.sleep(10)
            finished = True
    assert not finished


async def test_without_auto_extend_an_expired_block_says_so(aioredpat_conn: RedisPool) -> None:
    with pytest.raises(LockNotOwned):
        async with Lock(aioredpat_conn, "too-slow", ttl=0.1):
            await asyncio.sleep(0.5)


async def test_only_the_fencing_counter_has_no_ttl(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "ttl-check", ttl=30)
    lease = await lock.acquire()
    waiter = asyncio.create_task(lock.acquire(blocking_timeout=0.3))
    with pytest.raises(LockNotAcquired):
        await waiter
    for _ in range(5):
        task = asyncio.create_task(lock.acquire(blocking_timeout=1))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    client = aioredpat_conn.client
    keys = [key async for key in client.scan_iter(match="lock:*")]
    without_ttl = [key for key in keys if await client.pttl(key) < 0]
    assert without_ttl == [b"lock:{ttl-check}:fence"]
    await lease.release()


@pytest.mark.parametrize(
    ("options", "message"),
    [({"ttl": 0}, "ttl"), ({"ttl": -1}, "ttl"), ({"ttl": 5, "blocking_timeout": -1}, "blocking"),
     ({"ttl": "5"}, "ttl"), ({"ttl": 5, "namespace": "a{b}"}, "namespace")],
)  # fmt: skip
def test_bad_configuration_fails_at_construction(aioredpat_pool, options, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Lock(aioredpat_pool, "x", **options)
    with pytest.raises(ConfigurationError, match="name"):
        Lock(aioredpat_pool, "", ttl=5)


async def test_replicas_must_acknowledge_an_acquisition(aioredpat_sentinel, aioredpat_conn) -> None:
    async with RedisPool.sentinel(
        aioredpat_sentinel.sentinels, aioredpat_sentinel.service_name
    ) as pool:
        lock = Lock(pool, "replicated", ttl=10, replicas=1, replica_timeout=5)
        async with lock as lease:
            assert (
                aioredpat_sentinel.replica.command("GET", "lock:{replicated}:held")
                == lease.token.encode()
            )
    # the test servers of aioredpat_conn have no replicas: nothing can acknowledge
    unreplicated = Lock(aioredpat_conn, "replicated", ttl=10, replicas=1, replica_timeout=0.05)
    with pytest.raises(LockNotAcquired, match="0 of 1 replicas"):
        await unreplicated.acquire()
    assert not await unreplicated.locked()


async def queued(aioredpat_conn: RedisPool, name: str) -> int:
    return await aioredpat_conn.client.zcard(f"lock:{{{name}}}:queue")


async def test_waiters_are_served_in_arrival_order(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "fifo", ttl=60, blocking_timeout=30)
    holder = await lock.acquire()
    order: list[int] = []

    async def waiter(i: int) -> None:
        async with lock:
            order.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(waiter(i)))
        await wait_until(lambda i=i: _queue_has(aioredpat_conn, "fifo", i + 1))
    await holder.release()
    with anyio.fail_after(10):  # only notifications can get there before the 60 s ttl
        await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert await queued(aioredpat_conn, "fifo") == 0


async def _queue_has(aioredpat_conn: RedisPool, name: str, n: int) -> bool:
    return await queued(aioredpat_conn, name) == n


async def test_a_waiter_that_gives_up_passes_its_turn_on(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "give-up", ttl=60)
    holder = await lock.acquire()
    impatient = asyncio.create_task(lock.acquire(blocking_timeout=0.5))
    await wait_until(lambda: _queue_has(aioredpat_conn, "give-up", 1))
    cancelled = asyncio.create_task(lock.acquire(blocking_timeout=30))
    await wait_until(lambda: _queue_has(aioredpat_conn, "give-up", 2))
    patient = asyncio.create_task(lock.acquire(blocking_timeout=30))
    await wait_until(lambda: _queue_has(aioredpat_conn, "give-up", 3))
    with pytest.raises(LockNotAcquired):
        await impatient
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert await queued(aioredpat_conn, "give-up") == 1
    await holder.release()
    lease = await asyncio.wait_for(patient, 10)  # woken by the release, not the 60 s ttl
    await lease.release()


async def test_a_gone_waiter_at_the_head_is_passed_over(aioredpat_conn: RedisPool) -> None:
    lock = Lock(aioredpat_conn, "dead-head", ttl=60)
    holder = await lock.acquire()
    # a waiter process that died while queued: first in line, its liveness lapsing in 0.3 s
    seconds, micros = await aioredpat_conn.client.time()
    now_ms = seconds * 1000 + micros // 1000
    await aioredpat_conn.client.zadd("lock:{dead-head}:queue", {"ghost:60000": 0})
    await aioredpat_conn.client.zadd("lock:{dead-head}:alive", {"ghost:60000": now_ms + 300})
    await aioredpat_conn.client.pexpire("lock:{dead-head}:queue", 60_000)
    await aioredpat_conn.client.pexpire("lock:{dead-head}:alive", 60_000)
    waiter = asyncio.create_task(lock.acquire(blocking_timeout=30))
    await wait_until(lambda: _queue_has(aioredpat_conn, "dead-head", 2))
    await asyncio.sleep(0.5)  # the ghost has not tried again: it counts as gone
    await holder.release()  # hands the lock to the live waiter, not the ghost
    lease = await asyncio.wait_for(waiter, 10)
    assert await aioredpat_conn.client.get("lock:{dead-head}:held") == lease.token.encode()
    await lease.release()


async def test_a_waiter_survives_a_redis_restart(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url) as pool:
        lock = Lock(pool, "restarted", ttl=60)
        holder = await lock.acquire()
        waiter = asyncio.create_task(lock.acquire(blocking_timeout=30))
        await wait_until(lambda: _queue_has(pool, "restarted", 1))
        server.kill()  # the holder's lock and the waiter's subscription die with it
        server.start()  # empty: nothing persists
        # the subscriber notices, wakes its waiters to check again, and reconnects;
        # the waiter then finds the lock free, long before the holder's 60 s ttl
        lease = await asyncio.wait_for(waiter, 20)
        assert lease.fencing_token == 1  # the counter went with the old server's data
        with pytest.raises(LockNotOwned):
            await holder.release()
        await lease.release()


@pytest.mark.parametrize("outage", [0.5, 2.0])
async def test_a_waiter_rides_out_an_outage_shorter_than_its_blocking_timeout(
    aioredpat_server_factory, outage
) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url) as pool:
        lock = Lock(pool, "outage", ttl=60)
        holder = await lock.acquire()
        waiters = [asyncio.create_task(lock.acquire(blocking_timeout=30)) for _ in range(4)]
        await wait_until(lambda: _queue_has(pool, "outage", 4))
        server.kill()
        await asyncio.sleep(outage)  # the fault: Redis stays down this long
        assert not any(w.done() for w in waiters)  # nobody gave up while it was down
        server.start()
        leases = []
        for _ in waiters:  # the old holder's lease went with the data: each in turn
            done, _pending = await asyncio.wait(
                [w for w in waiters if not w.done() or w.result() not in leases],
                return_when=asyncio.FIRST_COMPLETED,
                timeout=30,
            )
            lease = next(iter(done)).result()  # raises if a waiter failed
            leases.append(lease)
            await lease.release()
        assert sorted(lease.fencing_token for lease in leases) == [1, 2, 3, 4]
        with pytest.raises(LockNotOwned):
            await holder.release()


async def test_redis_down_past_the_blocking_timeout_is_lock_not_acquired(
    aioredpat_server_factory,
) -> None:
    server = aioredpat_server_factory()
    async with RedisPool.from_url(server.url) as pool:
        lock = Lock(pool, "down", ttl=5)
        await pool.client.ping()
        server.kill()
        with anyio.fail_after(60), pytest.raises(LockNotAcquired, match="Redis failing") as info:
            await lock.acquire(blocking_timeout=1.0)
        assert info.value.__cause__ is not None  # the connection error it met, chained
