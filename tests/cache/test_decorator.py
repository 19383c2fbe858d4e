from __future__ import annotations

import asyncio
import dataclasses

import pydantic
import pytest

from aioredpat import ConfigurationError, RedisPool, cached


class User(pydantic.BaseModel):
    id: int
    name: str


@dataclasses.dataclass
class Query:
    team: str
    limit: int


async def test_results_are_cached_per_arguments(aioredpat_conn: RedisPool) -> None:
    calls: list[tuple[int, str]] = []

    @cached(aioredpat_conn, namespace="users", ttl=60)
    async def get_user(user_id: int, greeting: str = "hi") -> User:
        calls.append((user_id, greeting))
        await asyncio.sleep(0.05)
        return User(id=user_id, name=f"{greeting} {user_id}")

    results = await asyncio.gather(*(get_user(1) for _ in range(10)))
    assert results == [User(id=1, name="hi 1")] * 10  # the return annotation is the model
    assert await get_user(user_id=1, greeting="hi") == User(id=1, name="hi 1")
    assert await get_user(1, "yo") == User(id=1, name="yo 1")
    assert calls == [(1, "hi"), (1, "yo")]
    await get_user.invalidate(1)
    await get_user(1)
    assert calls == [(1, "hi"), (1, "yo"), (1, "hi")]


async def test_structured_arguments_make_stable_keys(aioredpat_conn: RedisPool) -> None:
    calls = 0

    @cached(aioredpat_conn, namespace="reports", ttl=60)
    async def report(query: Query) -> list[int]:
        nonlocal calls
        calls += 1
        return list(range(query.limit))

    assert await report(Query("a", 3)) == [0, 1, 2]
    assert await report(Query("a", 3)) == [0, 1, 2]  # equal value, another object
    assert calls == 1
    assert await report(Query("b", 3)) == [0, 1, 2]
    assert calls == 2


async def test_a_custom_key_function(aioredpat_conn: RedisPool) -> None:
    calls = 0

    @cached(aioredpat_conn, namespace="n", ttl=60, model=int, key=lambda a, b: f"sum:{a + b}")
    async def add(a: int, b: int):
        nonlocal calls
        calls += 1
        return a + b

    assert await add(1, 2) == 3 and await add(2, 1) == 3
    assert calls == 1
    assert await aioredpat_conn.client.exists("n:{sum:3}:v") == 1


def test_only_async_functions(aioredpat_pool: RedisPool) -> None:
    with pytest.raises(ConfigurationError, match="async def"):

        @cached(aioredpat_pool, namespace="n", ttl=1)
        def plain() -> int:
            return 1


async def test_a_model_defined_in_a_function_types_the_values(aioredpat_conn: RedisPool) -> None:
    # this module uses `from __future__ import annotations`: the return annotation is the
    # string "Local", resolved in the function that applied the decorator
    class Local(pydantic.BaseModel):
        id: int

    @cached(aioredpat_conn, namespace="local", ttl=60)
    async def fetch(item: int) -> Local:
        return {"id": item}  # type: ignore[return-value]  # a row, validated to the model

    first = await fetch(1)
    assert isinstance(first, Local) and first.id == 1
    again = await fetch(1)  # a hit, decoded through the same model
    assert isinstance(again, Local) and again == first


async def test_an_unresolvable_return_annotation_is_refused(aioredpat_conn: RedisPool) -> None:
    def make() -> None:
        @cached(aioredpat_conn, namespace="unknown", ttl=60)
        async def fetch(item: int) -> Missing:  # type: ignore[name-defined]  # noqa: F821
            return None

    with pytest.raises(ConfigurationError, match=r"return annotation 'Missing'.*pass .*model="):
        make()
