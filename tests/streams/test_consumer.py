from __future__ import annotations

import asyncio
import collections
import signal
import sys
from pathlib import Path

import anyio
import pydantic
import pytest
from redis.exceptions import ResponseError

from aioredpat import (
    BatchStreamConsumer,
    ConfigurationError,
    RedisPool,
    StreamConsumer,
    StreamMessage,
    StreamProducer,
)
from aioredpat.testing import command_counts, reset_command_counts
from tests._wait import eventually

ROOT = Path(__file__).resolve().parents[2]


class Order(pydantic.BaseModel):
    id: int
    item: str


async def pending(pool: RedisPool, stream: str, group: str) -> int:
    try:
        return int((await pool.client.xpending(stream, group))["pending"])
    except ResponseError:  # no such group (yet)
        return 0


async def dead_letters(pool: RedisPool, stream: str) -> list[dict[str, str]]:
    entries = await pool.client.xrange(stream)
    return [
        {key.decode(): value.decode(errors="replace") for key, value in fields.items()}
        for _, fields in entries
    ]


async def publish_orders(pool: RedisPool, stream: str, count: int) -> list[str]:
    producer = StreamProducer(pool, stream, model=Order)
    return await producer.publish_many(Order(id=i, item=f"item-{i}") for i in range(count))


async def test_500_messages_each_handled_once_with_concurrency_8(aioredpat_conn: RedisPool) -> None:
    await publish_orders(aioredpat_conn, "orders", 500)
    seen: collections.Counter[int] = collections.Counter()
    running = peak = 0

    async def handler(message: StreamMessage[Order]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        seen[message.data.id] += 1
        running -= 1

    await reset_command_counts(aioredpat_conn)
    consumer = StreamConsumer(
        aioredpat_conn,
        "orders",
        group="g",
        consumer="c1",
        handler=handler,
        model=Order,
        concurrency=8,
    )
    async with consumer:
        await eventually(lambda: len(seen) == 500)
    assert set(seen.values()) == {1} and sorted(seen) == list(range(500))
    assert 1 < peak <= 8
    assert await pending(aioredpat_conn, "orders", "g") == 0
    assert consumer.processed == 500
    counts = await command_counts(aioredpat_conn)
    assert counts["xack"] <= 25, counts  # batched: nowhere near one per message
    assert counts["xreadgroup"] <= 25, counts


async def test_messages_carry_id_data_and_first_delivery(aioredpat_conn: RedisPool) -> None:
    ids = await publish_orders(aioredpat_conn, "orders", 3)
    got: list[StreamMessage[Order]] = []

    async def handler(message: StreamMessage[Order]) -> None:
        got.append(message)

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order
    ):
        await eventually(lambda: len(got) == 3)
    assert [m.id for m in got] == ids  # concurrency 1: in stream order
    assert [m.data for m in got] == [Order(id=i, item=f"item-{i}") for i in range(3)]
    assert {m.deliveries for m in got} == {1} and {m.stream for m in got} == {"orders"}


async def test_poison_message_tried_max_deliveries_times_then_dead_lettered(
    aioredpat_conn: RedisPool,
) -> None:
    ids = await publish_orders(aioredpat_conn, "orders", 5)
    tries: collections.Counter[int] = collections.Counter()
    deliveries: list[int] = []

    async def handler(message: StreamMessage[Order]) -> None:
        tries[message.data.id] += 1
        if message.data.id == 2:
            deliveries.append(message.deliveries)
            raise ValueError("cannot ship item-2")

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order,
        claim_idle=0.2, max_deliveries=3, dead_letter="orders:dead",
    ) as consumer:  # fmt: skip
        await eventually(lambda: consumer.dead_lettered == 1)
        await eventually(lambda: consumer.processed == 4)
    assert tries[2] == 3 and deliveries == [1, 2, 3]
    assert all(tries[i] == 1 for i in (0, 1, 3, 4))
    (dead,) = await dead_letters(aioredpat_conn, "orders:dead")
    assert dead["stream"] == "orders" and dead["id"] == ids[2] and dead["group"] == "g"
    assert dead["deliveries"] == "3" and "cannot ship item-2" in dead["error"]
    assert Order.model_validate_json(dead["data"]) == Order(id=2, item="item-2")
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_poison_message_without_dead_letter_is_acknowledged(
    aioredpat_conn: RedisPool,
) -> None:
    await publish_orders(aioredpat_conn, "orders", 1)
    tries = 0

    async def handler(message: StreamMessage[Order]) -> None:
        nonlocal tries
        tries += 1
        raise RuntimeError("always")

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order,
        claim_idle=0.1, max_deliveries=2,
    ) as consumer:  # fmt: skip
        await eventually(lambda: consumer.dead_lettered == 1)
    assert tries == 2
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_undecodable_entries_dead_lettered_and_consumer_goes_on(
    aioredpat_conn: RedisPool,
) -> None:
    await publish_orders(aioredpat_conn, "orders", 2)
    await aioredpat_conn.client.xadd("orders", {"data": b"{not json"})
    await aioredpat_conn.client.xadd("orders", {"other": b"field"})
    await publish_orders(aioredpat_conn, "orders", 2)
    handled: list[int] = []

    async def handler(message: StreamMessage[Order]) -> None:
        handled.append(message.data.id)

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order,
        dead_letter="orders:dead",
    ) as consumer:  # fmt: skip
        await eventually(lambda: consumer.dead_lettered == 2 and len(handled) == 4)
    assert handled == [0, 1, 0, 1]
    dead = await dead_letters(aioredpat_conn, "orders:dead")
    assert [d["deliveries"] for d in dead] == ["1", "1"]
    assert all(d["error"].startswith("undecodable") for d in dead)
    assert dead[0]["data"] == "{not json" and "data" not in dead[1]
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_killed_consumer_process_entries_finished_by_another(
    aioredpat_conn: RedisPool, request
) -> None:
    if aioredpat_conn.is_cluster:
        kind, urls = "cluster", ",".join(request.getfixturevalue("aioredpat_cluster").urls)
    else:
        kind, urls = "standalone", request.getfixturevalue("aioredpat_redis_url")
    ids = await publish_orders(aioredpat_conn, "jobs", 20)
    command = [sys.executable, "-m", "tests.streams._worker", kind, urls, "jobs"]
    worker = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    try:
        # mid-batch: it holds all 20, four handlers have started, none has finished
        await eventually(lambda: pending(aioredpat_conn, "jobs", "workers"), bound=60)
        await eventually(lambda: aioredpat_conn.client.scard("{jobs}:started"), bound=60)
        assert await pending(aioredpat_conn, "jobs", "workers") == 20
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    finished: list[str] = []

    async def handler(message: StreamMessage[Order]) -> None:
        finished.append(message.id)

    async with StreamConsumer(
        aioredpat_conn, "jobs", group="workers", consumer="rescuer", handler=handler, model=Order,
        claim_idle=0.5,
    ):  # fmt: skip
        await eventually(lambda: len(finished) == 20)
    assert sorted(finished) == sorted(ids)
    assert await pending(aioredpat_conn, "jobs", "workers") == 0


async def test_slow_handler_keeps_its_claim(aioredpat_conn: RedisPool) -> None:
    await publish_orders(aioredpat_conn, "orders", 1)
    calls = 0
    done = asyncio.Event()

    async def slow(message: StreamMessage[Order]) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3.0)  # three times claim_idle
        done.set()

    options = {"group": "g", "handler": slow, "model": Order, "claim_idle": 1.0}
    async with (
        StreamConsumer(aioredpat_conn, "orders", consumer="a", **options),
        StreamConsumer(aioredpat_conn, "orders", consumer="b", **options),
    ):
        with anyio.fail_after(30):
            await done.wait()
    assert calls == 1
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_own_pending_entries_come_first_on_start(aioredpat_conn: RedisPool) -> None:
    ids = await publish_orders(aioredpat_conn, "orders", 3)
    await aioredpat_conn.client.xgroup_create("orders", "g", "0")
    # a previous run of consumer "c" read these and died before acknowledging them
    await aioredpat_conn.client.xreadgroup("g", "c", {"orders": ">"}, count=2)
    got: list[tuple[str, int]] = []

    async def handler(message: StreamMessage[Order]) -> None:
        got.append((message.id, message.deliveries))

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order,
        claim_idle=600,
    ):  # fmt: skip
        await eventually(lambda: len(got) == 3)
    assert got == [(ids[0], 2), (ids[1], 2), (ids[2], 1)]


async def test_start_new_skips_the_backlog(aioredpat_conn: RedisPool) -> None:
    await publish_orders(aioredpat_conn, "orders", 3)
    got: list[int] = []

    async def handler(message: StreamMessage[Order]) -> None:
        got.append(message.data.id)

    consumer = StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order, start="new"
    )
    async with consumer:
        await eventually(lambda: aioredpat_conn.client.xinfo_groups("orders"))
        producer = StreamProducer(aioredpat_conn, "orders", model=Order)
        await producer.publish(Order(id=99, item="new"))
        await eventually(lambda: got)
    assert got == [99]


async def test_leaving_the_block_waits_for_the_handler_in_flight(aioredpat_conn: RedisPool) -> None:
    await publish_orders(aioredpat_conn, "orders", 1)
    started, finished = asyncio.Event(), []

    async def handler(message: StreamMessage[Order]) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(message.id)

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order
    ):
        await started.wait()
    assert len(finished) == 1
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_cancelling_run_finishes_and_acknowledges_the_handler_in_flight(
    aioredpat_conn: RedisPool,
) -> None:
    await publish_orders(aioredpat_conn, "orders", 1)
    started, finished = asyncio.Event(), []

    async def handler(message: StreamMessage[Order]) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(message.id)

    consumer = StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order
    )
    task = asyncio.create_task(consumer.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(finished) == 1
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_cancelled_past_stop_timeout_leaves_the_entry_pending(
    aioredpat_conn: RedisPool,
) -> None:
    ids = await publish_orders(aioredpat_conn, "orders", 1)
    started = asyncio.Event()

    async def stuck(message: StreamMessage[Order]) -> None:
        started.set()
        await asyncio.Event().wait()

    consumer = StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=stuck, model=Order,
        stop_timeout=0.2,
    )  # fmt: skip
    task = asyncio.create_task(consumer.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await pending(aioredpat_conn, "orders", "g") == 1  # not lost: still pending
    got: list[str] = []

    async def handler(message: StreamMessage[Order]) -> None:
        got.append(message.id)

    async with StreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order
    ):
        await eventually(lambda: got)
    assert got == ids
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_consumer_survives_a_redis_restart(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    got: list[int] = []

    async def handler(message: StreamMessage[Order]) -> None:
        got.append(message.data.id)

    async with RedisPool.from_url(server.url) as pool:
        producer = StreamProducer(pool, "orders", model=Order)
        async with StreamConsumer(
            pool, "orders", group="g", consumer="c", handler=handler, model=Order, block=0.2
        ):
            await producer.publish(Order(id=1, item="before"))
            await eventually(lambda: got == [1])
            server.kill()
            server.start()  # empty: the stream and its group are gone

            async def delivered() -> bool:
                if 2 not in got:
                    await producer.publish(Order(id=2, item="after"))
                    await asyncio.sleep(0.2)
                return 2 in got

            await eventually(delivered, bound=60)
        assert got[0] == 1 and 2 in got


async def test_batch_consumer_receives_lists(aioredpat_conn: RedisPool) -> None:
    await publish_orders(aioredpat_conn, "orders", 300)
    batches: list[list[int]] = []
    failed_once = False

    async def handler(messages: list[StreamMessage[Order]]) -> None:
        nonlocal failed_once
        if not failed_once:
            failed_once = True
            raise RuntimeError("the database blinked")
        batches.append([m.data.id for m in messages])

    async with BatchStreamConsumer(
        aioredpat_conn, "orders", group="g", consumer="c", handler=handler, model=Order,
        batch_size=100, claim_idle=0.2,
    ):  # fmt: skip
        await eventually(lambda: sum(map(len, batches)) == 300)
    assert sorted(i for batch in batches for i in batch) == list(range(300))
    assert all(1 <= len(batch) <= 100 for batch in batches)
    assert await pending(aioredpat_conn, "orders", "g") == 0


async def test_bad_configuration_fails_at_construction(aioredpat_pool: RedisPool) -> None:
    async def handler(message: StreamMessage[int]) -> None:
        pass

    def make(**options):
        base = {"group": "g", "consumer": "c", "handler": handler}
        return StreamConsumer(aioredpat_pool, options.pop("stream", "s"), **{**base, **options})

    for bad, word in [
        ({"stream": ""}, "stream"),
        ({"group": ""}, "group"),
        ({"consumer": None}, "consumer"),
        ({"concurrency": 0}, "concurrency"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"claim_idle": -1}, "claim_idle"),
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"dead_letter": "s"}, "dead_letter"),
        ({"start": "middle"}, "start"),
        ({"handler": "not callable"}, "handler"),
    ]:
        with pytest.raises(ConfigurationError, match=word):
            make(**bad)


async def test_a_consumer_runs_once_at_a_time(aioredpat_pool: RedisPool) -> None:
    async def handler(message: StreamMessage[int]) -> None:
        pass

    consumer = StreamConsumer(aioredpat_pool, "s", group="g", consumer="c", handler=handler)
    async with consumer:
        with pytest.raises(RuntimeError, match="already running"):
            await consumer.__aenter__()
    with pytest.raises(RuntimeError, match="make a new one"):  # nor again once it ended
        async with consumer:
            pass
