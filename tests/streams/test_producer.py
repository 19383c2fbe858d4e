from __future__ import annotations

import pydantic
import pytest

from aioredpat import (
    ConfigurationError,
    ModelSerializer,
    RedisPool,
    SerializationError,
    StreamProducer,
)
from aioredpat.testing import command_counts, reset_command_counts


def in_stream_order(ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda entry_id: tuple(int(part) for part in entry_id.split("-")))


class Order(pydantic.BaseModel):
    id: int
    item: str


async def test_publish_appends_typed_values_in_order(aioredpat_conn: RedisPool) -> None:
    producer = StreamProducer(aioredpat_conn, "orders", model=Order)
    ids = [await producer.publish(Order(id=i, item=f"item-{i}")) for i in range(3)]
    assert ids == in_stream_order(ids) and all(isinstance(i, str) for i in ids)
    entries = await aioredpat_conn.client.xrange("orders")
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    decoded = [ModelSerializer(Order).loads(fields[b"data"]) for _, fields in entries]
    assert decoded == [Order(id=i, item=f"item-{i}") for i in range(3)]


async def test_publish_many_is_one_pipeline_in_order(aioredpat_conn: RedisPool) -> None:
    producer = StreamProducer(aioredpat_conn, "bulk:{orders}", model=list[int])
    await reset_command_counts(aioredpat_conn)
    ids = await producer.publish_many([[i] for i in range(50)])
    assert len(ids) == 50 and ids == in_stream_order(ids)
    assert (await command_counts(aioredpat_conn))["xadd"] == 50
    entries = await aioredpat_conn.client.xrange("bulk:{orders}")
    assert [fields[b"data"] for _, fields in entries] == [f"[{i}]".encode() for i in range(50)]
    assert await producer.publish_many([]) == []


async def test_a_value_that_cannot_be_encoded_sends_nothing(aioredpat_conn: RedisPool) -> None:
    producer = StreamProducer(aioredpat_conn, "strict", model=list[int])
    with pytest.raises(SerializationError):
        await producer.publish(object())  # type: ignore[arg-type]
    with pytest.raises(SerializationError):
        await producer.publish_many([[1], object(), [3]])  # type: ignore[list-item]
    assert await aioredpat_conn.client.exists("strict") == 0


async def test_maxlen_caps_the_stream(aioredpat_conn: RedisPool) -> None:
    exact = StreamProducer(aioredpat_conn, "capped-exact", maxlen=10, approximate=False)
    await exact.publish_many(list(range(100)))
    assert await aioredpat_conn.client.xlen("capped-exact") == 10
    approximate = StreamProducer(aioredpat_conn, "capped", maxlen=100)
    for chunk in range(10):
        await approximate.publish_many(list(range(chunk * 100, chunk * 100 + 100)))
    # trimmed a whole node of entries at a time: about maxlen, never the 1000 published
    assert 100 <= await aioredpat_conn.client.xlen("capped") < 1000


@pytest.mark.parametrize(
    ("stream", "options", "message"),
    [("", {}, "stream"), ("s", {"maxlen": 0}, "maxlen"), ("s", {"maxlen": 2.5}, "maxlen"),
     ("s", {"model": list[int], "serializer": ModelSerializer(int)}, "not both")],
)  # fmt: skip
def test_bad_configuration_fails_at_construction(aioredpat_pool, stream, options, message) -> None:
    with pytest.raises(ConfigurationError, match=message):
        StreamProducer(aioredpat_pool, stream, **options)
