from __future__ import annotations

import asyncio
import collections
import signal
import sys
from pathlib import Path

import aiosqlite
import anyio
import pytest
from redis.crc import key_slot

from aioredpat import ConfigurationError, RedisPool, WriteBehind
from aioredpat.testing import reset_command_counts
from tests.cache._helpers import commands, eventually

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """A writer that records every batch; it can be made to fail or to wait."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[str, int | None]]] = []
        self.fail_times = 0  # the next calls that raise
        self.poison: set[str] = set()  # keys whose changes always fail
        self.gate: asyncio.Event | None = None
        self.calls = 0

    async def write(self, batch) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionRefusedError("database unreachable")
        bad = [key for key, _ in batch if key in self.poison]
        if bad:
            raise ValueError(f"constraint violated by {bad}")
        self.batches.append(list(batch))

    def latest(self) -> dict[str, int | None]:
        state: dict[str, int | None] = {}
        for batch in self.batches:
            state.update(batch)
        return state

    def written(self) -> int:
        return sum(map(len, self.batches))


def behind(pool: RedisPool, recorder: Recorder, **options) -> WriteBehind[int]:
    settings = {"batch_size": 10, "flush_interval": 0.05, "claim_idle": 1.0, **options}
    return WriteBehind(pool, namespace="wb", ttl=600, writer=recorder.write, model=int, **settings)


async def queued(pool: RedisPool, wb: WriteBehind) -> int:
    return sum([await pool.client.xlen(wb._queue(shard)) for shard in range(wb.shards)])


async def test_set_is_one_round_trip_and_readable_at_once(aioredpat_conn: RedisPool) -> None:
    wb = behind(aioredpat_conn, Recorder())
    await wb.set("page:0", 0)  # the server learns the script
    await reset_command_counts(aioredpat_conn)
    entry_id = await wb.set("page:1", 5)
    assert await commands(aioredpat_conn) == {"evalsha": 1, "set": 1, "xadd": 1}  # one script
    assert isinstance(entry_id, str) and "-" in entry_id
    assert await wb.get("page:1") == 5
    assert await wb.get("page:2") is None


async def test_batches_coalesce_each_key_to_its_latest_value(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    wb = behind(aioredpat_conn, recorder, batch_size=100, flush_interval=0.2)
    for i in range(30):
        await wb.set(f"k{i % 5}", i)
    await wb.delete("k4")
    async with wb:
        await wb.flush()
    assert recorder.latest() == {"k0": 25, "k1": 26, "k2": 27, "k3": 28, "k4": None}
    for batch in recorder.batches:
        keys = [key for key, _ in batch]
        assert len(keys) == len(set(keys)) and len(batch) <= 100
    assert recorder.written() <= 5 * wb.shards  # 31 changes, at most one per key per shard
    assert await queued(aioredpat_conn, wb) == 0  # taken changes are trimmed


async def test_batches_hold_at_most_batch_size(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    wb = behind(aioredpat_conn, recorder, batch_size=7)
    async with wb:
        for i in range(50):
            await wb.set(f"key-{i}", i)
        await wb.flush()
    assert recorder.latest() == {f"key-{i}": i for i in range(50)}
    assert all(1 <= len(batch) <= 7 for batch in recorder.batches)


async def test_writes_of_one_key_reach_the_writer_in_order(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    wb = behind(aioredpat_conn, recorder, batch_size=3, flush_interval=0.01)
    seen: collections.defaultdict[str, list[int]] = collections.defaultdict(list)
    async with wb:
        for i in range(60):
            await wb.set(f"k{i % 4}", i)
            if i % 7 == 0:
                await asyncio.sleep(0.02)  # let some batches go between the writes
        await wb.flush()
    for batch in recorder.batches:
        for key, value in batch:
            seen[key].append(value)
    for key, values in seen.items():
        assert values == sorted(values), key
        assert values[-1] == max(i for i in range(60) if f"k{i % 4}" == key)


async def test_a_failing_writer_is_retried_until_it_succeeds(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    recorder.fail_times = 12  # a database outage: every write fails for a while
    wb = behind(aioredpat_conn, recorder, max_backoff=0.2, max_attempts=2)
    async with wb:
        for i in range(20):
            await wb.set(f"key-{i}", i)
        await wb.flush()
    assert recorder.latest() == {f"key-{i}": i for i in range(20)}
    assert wb.dead_lettered == 0  # an outage dead-letters nothing
    assert await aioredpat_conn.client.exists("wb:dead") == 0


async def test_a_poison_change_is_isolated_and_dead_lettered(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    recorder.poison = {"bad"}
    wb = behind(aioredpat_conn, recorder, batch_size=8, max_attempts=3, max_backoff=0.05,
                shards=1)  # fmt: skip
    async with wb:
        await wb.set("bad", 666)
        for i in range(40):
            await wb.set(f"good-{i}", i)
            if i % 8 == 0:
                await asyncio.sleep(0.01)
        await eventually(lambda: wb.dead_lettered == 1, bound=60)
        await wb.flush()
    assert recorder.latest() == {f"good-{i}": i for i in range(40)}
    (dead,) = await aioredpat_conn.client.xrange("wb:dead")
    fields = dead[1]
    assert fields[b"k"] == b"bad" and fields[b"v"] == b"666" and fields[b"attempts"] == b"3"
    assert b"constraint violated" in fields[b"error"]
    assert await queued(aioredpat_conn, wb) == 0


async def test_leaving_the_block_flushes(aioredpat_conn: RedisPool) -> None:
    recorder = Recorder()
    wb = behind(aioredpat_conn, recorder, flush_interval=30)  # only leaving makes it flush
    async with wb:
        for i in range(5):
            await wb.set(f"key-{i}", i)
    assert recorder.latest() == {f"key-{i}": i for i in range(5)}
    assert await queued(aioredpat_conn, wb) == 0


async def test_cancelling_the_owner_leaves_changes_pending(aioredpat_conn: RedisPool) -> None:
    stuck = Recorder()
    stuck.gate = asyncio.Event()  # the writer never returns
    wb = behind(aioredpat_conn, stuck, stop_timeout=0.3)

    async def owner() -> None:
        async with wb:
            for i in range(5):
                await wb.set(f"key-{i}", i)
            await asyncio.Event().wait()

    task = asyncio.create_task(owner())
    await eventually(lambda: stuck.calls > 0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await queued(aioredpat_conn, wb) == 5  # nothing lost
    recorder = Recorder()
    async with behind(aioredpat_conn, recorder) as again:
        await again.flush()
    assert recorder.latest() == {f"key-{i}": i for i in range(5)}


async def test_a_killed_flusher_loses_no_write(
    aioredpat_conn: RedisPool, request, tmp_path
) -> None:
    if aioredpat_conn.is_cluster:
        kind, urls = "cluster", ",".join(request.getfixturevalue("aioredpat_cluster").urls)
    else:
        kind, urls = "standalone", request.getfixturevalue("aioredpat_redis_url")
    path = tmp_path / "counters.db"
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE counters (key TEXT PRIMARY KEY, value INTEGER)")
        await db.commit()
    producer = WriteBehind(aioredpat_conn, namespace="wb", ttl=600, writer=Recorder().write,
                           model=int)  # fmt: skip
    expected = {}
    for i in range(200):
        key = f"page:{i % 40}"
        await producer.set(key, i)
        expected[key] = i
    command = [sys.executable, "-m", "tests.cache._flusher", kind, urls, str(path)]
    flusher = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    try:
        await eventually(lambda: aioredpat_conn.client.get("{test}:batches-started"), bound=60)
    finally:
        flusher.send_signal(signal.SIGKILL)  # mid-batch: its writer sleeps 0.5 s
        await flusher.wait()

    async with aiosqlite.connect(path) as db:

        async def write(batch) -> None:
            await db.executemany(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(batch),
            )
            await db.commit()

        rescuer = WriteBehind(aioredpat_conn, namespace="wb", ttl=600, writer=write, model=int,
                              batch_size=10, flush_interval=0.05, claim_idle=1.0)  # fmt: skip
        async with rescuer:
            with anyio.fail_after(60):
                await rescuer.flush()
        async with db.execute("SELECT key, value FROM counters") as rows:
            stored = dict(await rows.fetchall())
    assert stored == expected


async def test_a_flusher_already_running_takes_over(aioredpat_conn: RedisPool) -> None:
    stuck, recorder = Recorder(), Recorder()
    stuck.gate = asyncio.Event()
    first = behind(aioredpat_conn, stuck, stop_timeout=0.2, shards=1)
    second = behind(aioredpat_conn, recorder, shards=1)
    async with first:
        for i in range(5):
            await first.set(f"key-{i}", i)
        await eventually(lambda: stuck.calls > 0)
        # first now looks dead to the others: it holds its entries and stops renewing
        for lease in first._leases.values():
            lease.held = False
        await aioredpat_conn.client.delete(f"{first._shard_tag(0)}:owner")
        async with second:
            await second.flush()
    assert recorder.latest() == {f"key-{i}": i for i in range(5)}


async def test_flushers_cover_every_shard(aioredpat_cluster_pool: RedisPool) -> None:
    recorder = Recorder()
    wb = behind(aioredpat_cluster_pool, recorder)
    assert wb.shards == 16
    slots = {key_slot(wb._queue(shard).encode()) for shard in range(wb.shards)}
    assert len(slots) == 16
    async with wb:
        for i in range(100):
            await wb.set(f"user:{i}", i)
        await wb.flush()
    assert recorder.latest() == {f"user:{i}": i for i in range(100)}


def test_bad_configuration(aioredpat_pool: RedisPool) -> None:
    async def writer(batch) -> None:
        pass

    for options, word in [
        ({"writer": None}, "writer"),
        ({"batch_size": 0}, "batch_size"),
        ({"flush_interval": 0}, "flush_interval"),
        ({"claim_idle": -1}, "claim_idle"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"shards": 0}, "shards"),
    ]:
        with pytest.raises(ConfigurationError, match=word):
            WriteBehind(aioredpat_pool, **{"namespace": "n", "ttl": 1, "writer": writer, **options})
