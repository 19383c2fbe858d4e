"""Stream consumers under faults: nothing finished is left unacknowledged."""

from __future__ import annotations

import anyio
import pydantic
import pytest

from aioredpat import PubSub, PubSubGap, RedisPool, StreamConsumer, StreamMessage, StreamProducer
from tests._wait import eventually


class Order(pydantic.BaseModel):
    id: int


async def test_acks_on_the_wire_at_shutdown_are_sent_not_dropped(
    aioredpat_server_factory, aioredpat_proxy_factory
) -> None:
    server = aioredpat_server_factory()
    proxy = aioredpat_proxy_factory(server)
    async with RedisPool.from_url(server.url) as direct, RedisPool.from_url(proxy.url) as pool:
        await StreamProducer(direct, "orders", model=Order).publish_many(
            [Order(id=i) for i in range(20)]
        )
        handled: list[int] = []

        async def handle(message: StreamMessage[Order]) -> None:
            handled.append(message.data.id)

        consumer = StreamConsumer(
            pool, "orders", group="g", consumer="c", handler=handle, model=Order, concurrency=4
        )
        async with consumer:
            await eventually(lambda: len(handled) == 20)
            proxy.delay(0.3)  # the next XACK stays on the wire while the block is left
            await eventually(lambda: not consumer._acks)  # taken by the ack loop: in flight
        assert (await direct.client.xpending("orders", "g"))["pending"] == 0
        assert consumer.processed == 20


async def _numsub(pool: RedisPool, channel: str) -> int:
    return dict(await pool.client.pubsub_numsub(channel))[channel.encode()]


@pytest.mark.parametrize("cuts", [1, 3])
async def test_each_lost_connection_is_one_gap(
    aioredpat_server_factory, aioredpat_proxy_factory, cuts
):
    server = aioredpat_server_factory()
    proxy = aioredpat_proxy_factory(server)
    gaps: list[PubSubGap] = []
    async with (
        RedisPool.from_url(server.url) as direct,
        RedisPool.from_url(proxy.url) as pool,
        PubSub(pool, model=int, on_gap=gaps.append) as pubsub,
        pubsub.subscribe("events") as messages,
    ):
        for cut in range(cuts):
            refused = proxy.accepted
            proxy.refuse()
            proxy.cut()
            # refused past redis-py's own retries, so the reader itself has to reconnect
            await eventually(lambda: proxy.accepted >= refused + 6)  # noqa: B023
            proxy.accept()
            await eventually(lambda: len(gaps) > cut)  # noqa: B023 - reported once resubscribed
            await eventually(lambda: _numsub(direct, "events"))
            await pubsub.publish("events", cut)  # on the same pool as the subscription
            with anyio.fail_after(20):
                assert (await anext(messages)).data == cut  # heard again
    assert [gap.reason for gap in gaps] == ["reconnect"] * cuts
    assert messages.gaps == cuts


async def test_subscribing_while_redis_is_down_starts_and_catches_up(
    aioredpat_server_factory, aioredpat_proxy_factory
) -> None:
    server = aioredpat_server_factory()
    proxy = aioredpat_proxy_factory(server)
    gaps: list[PubSubGap] = []
    async with (
        RedisPool.from_url(server.url) as direct,
        RedisPool.from_url(proxy.url, retries=0) as pool,
        PubSub(pool, model=int, on_gap=gaps.append) as pubsub,
    ):
        proxy.refuse()  # down when the service starts
        async with pubsub.subscribe("events") as messages:  # does not raise
            proxy.accept()
            await eventually(lambda: _numsub(direct, "events"))  # the reader subscribed
            await PubSub(direct, model=int).publish("events", 7)
            with anyio.fail_after(20):
                assert (await anext(messages)).data == 7
    assert [gap.reason for gap in gaps] == ["reconnect"]  # the wait was reported
