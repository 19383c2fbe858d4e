from __future__ import annotations

import asyncio

import anyio
import pydantic
import pytest

from aioredpat import ConfigurationError, PubSub, PubSubGap, PubSubMessage, RedisPool


class Note(pydantic.BaseModel):
    text: str


async def numsub(pubsub: PubSub, *channels: str) -> list[int]:
    """Subscribers per channel, asked of the node the subscriptions live on."""
    reply = await pubsub._connection_client().execute_command("PUBSUB", "NUMSUB", *channels)
    return [int(count) for count in reply[1::2]]


async def next_message(subscription, *, bound: float = 20.0) -> PubSubMessage:
    with anyio.fail_after(bound):
        return await anext(subscription)


async def test_subscribers_receive_typed_messages(aioredpat_conn: RedisPool) -> None:
    async with (
        PubSub(aioredpat_conn, model=Note) as pubsub,
        pubsub.subscribe("news", "alerts") as messages,
    ):
        assert await pubsub.publish("news", Note(text="hello")) >= 0
        await pubsub.publish("alerts", Note(text="fire"))
        first, second = await next_message(messages), await next_message(messages)
    assert first == PubSubMessage("news", Note(text="hello"))
    assert second == PubSubMessage("alerts", Note(text="fire"))


async def test_subscriptions_share_one_connection(aioredpat_conn: RedisPool) -> None:
    async with PubSub(aioredpat_conn, model=int) as pubsub:
        async with pubsub.subscribe("a") as a, pubsub.subscribe("a", "b") as ab:
            assert await numsub(pubsub, "a", "b") == [1, 1]  # one connection holds both
            await pubsub.publish("a", 1)
            await pubsub.publish("b", 2)
            assert (await next_message(a)).data == 1
            assert [(await next_message(ab)).data for _ in range(2)] == [1, 2]
        async with pubsub.subscribe("a") as again:
            await pubsub.publish("a", 3)
            assert (await next_message(again)).data == 3


async def test_pattern_subscription(aioredpat_conn: RedisPool) -> None:
    async with (
        PubSub(aioredpat_conn, model=str) as pubsub,
        pubsub.psubscribe("orders.*") as messages,
    ):
        await pubsub.publish("orders.eu", "one")
        await pubsub.publish("users.eu", "not this")
        await pubsub.publish("orders.us", "two")
        got = [await next_message(messages) for _ in range(2)]
    assert got == [
        PubSubMessage("orders.eu", "one", "orders.*"),
        PubSubMessage("orders.us", "two", "orders.*"),
    ]


async def test_undecodable_messages_are_skipped(aioredpat_conn: RedisPool) -> None:
    async with PubSub(aioredpat_conn, model=Note) as pubsub, pubsub.subscribe("news") as messages:
        await aioredpat_conn.client.publish("news", b"{broken")
        await pubsub.publish("news", Note(text="fine"))
        assert (await next_message(messages)).data == Note(text="fine")


async def test_slow_subscriber_drops_oldest_and_reports_a_gap(aioredpat_conn: RedisPool) -> None:
    gaps: list[PubSubGap] = []
    async with (
        PubSub(aioredpat_conn, model=int, buffer=3, on_gap=gaps.append) as pubsub,
        pubsub.subscribe("ticks") as messages,
    ):
        for i in range(5):
            await pubsub.publish("ticks", i)
        with anyio.fail_after(20):  # nothing is read until all five arrived
            while messages.dropped < 2:  # noqa: ASYNC110 - waiting for the reader task
                await asyncio.sleep(0.01)
        got = [(await next_message(messages)).data for _ in range(3)]
    assert got == [2, 3, 4]
    assert messages.dropped == 2 and messages.gaps == 2
    assert [gap.reason for gap in gaps] == ["overflow", "overflow"]
    assert gaps[-1].channels == ("ticks",) and gaps[-1].dropped == 2


async def test_iteration_ends_when_the_block_is_left(aioredpat_pool: RedisPool) -> None:
    async with PubSub(aioredpat_pool, model=int) as pubsub:
        async with pubsub.subscribe("x") as messages:
            pass
        assert [m async for m in messages] == []


async def test_subscriber_survives_a_redis_restart(aioredpat_server_factory) -> None:
    server = aioredpat_server_factory()
    gaps: list[PubSubGap] = []
    async with (
        RedisPool.from_url(server.url) as pool,
        PubSub(pool, model=int, on_gap=gaps.append) as pubsub,
        pubsub.subscribe("events") as messages,
    ):
        await pubsub.publish("events", 1)
        assert (await next_message(messages)).data == 1
        server.kill()
        server.start()

        async def publish_until_heard() -> PubSubMessage:
            while True:
                await pubsub.publish("events", 2)
                with anyio.move_on_after(0.5):
                    return await anext(messages)

        with anyio.fail_after(60):
            heard = await publish_until_heard()
    assert heard.data == 2
    assert messages.gaps >= 1 and gaps and gaps[0].reason == "reconnect"
    assert gaps[0].channels == ("events",)


async def test_cancelled_subscriber_unsubscribes(aioredpat_conn: RedisPool) -> None:
    async with PubSub(aioredpat_conn, model=int) as pubsub:
        entered = asyncio.Event()

        async def listen() -> None:
            async with pubsub.subscribe("gone") as messages:
                entered.set()
                async for _ in messages:
                    pass

        task = asyncio.create_task(listen())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        with anyio.fail_after(20):
            while await numsub(pubsub, "gone") != [0]:  # noqa: ASYNC110 - the state lives in Redis
                await asyncio.sleep(0.02)
        assert pubsub._subs == {}


async def test_bad_arguments(aioredpat_pool: RedisPool) -> None:
    with pytest.raises(ConfigurationError, match="buffer"):
        PubSub(aioredpat_pool, buffer=0)
    with pytest.raises(ConfigurationError, match="on_gap"):
        PubSub(aioredpat_pool, on_gap="print")
    async with PubSub(aioredpat_pool) as pubsub:
        with pytest.raises(ConfigurationError, match="at least one"):
            async with pubsub.subscribe():
                pass
        with pytest.raises(ConfigurationError, match="channel"):
            await pubsub.publish("", 1)
