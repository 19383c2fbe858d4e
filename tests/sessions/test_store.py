"""SessionStore: hashed ids, sliding and absolute expiry, atomic updates and rotation."""

from __future__ import annotations

import asyncio

import pydantic
import pytest

from aioredpat import ConfigurationError, RedisPool, SessionStore
from aioredpat.testing import reset_command_counts
from tests._wait import eventually
from tests.cache._helpers import commands, keys_without_ttl


class Cart(pydantic.BaseModel):
    items: list[str] = []


async def everything_in_redis(pool: RedisPool) -> bytes:
    """Every key and every value, as one blob (hashes and sorted sets expanded)."""
    client = pool.client
    blob = b""
    keys = [key async for key in client.scan_iter(count=1000)]
    for key in keys:
        blob += key
        kind = (
            (await client.type(key)).decode()
            if isinstance(await client.type(key), bytes)
            else await client.type(key)
        )
        if kind == "hash":
            for field, value in (await client.hgetall(key)).items():
                blob += field + value
        elif kind == "zset":
            blob += b"".join(await client.zrange(key, 0, -1))
        elif kind == "string":
            blob += await client.get(key) or b""
    return blob


async def test_redis_never_holds_a_raw_id(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn, model=Cart)
    sids = [await store.create(Cart(items=["a"]), user=f"user-{i % 3}") for i in range(20)]
    rotated = [await store.rotate(sid) for sid in sids[:5]]
    for sid in sids[5:]:
        await store.update(sid, lambda cart: Cart(items=[*cart.items, "b"]))
    blob = await everything_in_redis(aioredpat_conn)
    for sid in [*sids, *rotated]:
        assert sid is not None and len(sid) >= 43  # 256 bits, URL-safe
        assert sid.encode() not in blob
    assert await keys_without_ttl(aioredpat_conn) == []


async def test_get_slides_the_idle_expiry(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn, ttl=100)
    sid = await store.create({"n": 1})
    key = store._key(sid)
    await aioredpat_conn.client.pexpire(key, 5000)  # as if 95 idle seconds had passed
    assert await store.get(sid) == {"n": 1}
    assert await aioredpat_conn.client.pttl(key) > 90_000  # slid back to the full ttl


async def test_absolute_lifetime_is_not_extended_by_activity(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn, ttl=100, absolute_ttl=2)
    sid = await store.create({"n": 1})
    assert await store.get(sid) == {"n": 1}
    assert 0 < await aioredpat_conn.client.pttl(store._key(sid)) <= 2000  # capped, not slid

    async def ended() -> bool:
        return await store.get(sid) is None

    await eventually(ended)
    assert await store.set(sid, {"n": 2}) is False  # never revived
    assert await aioredpat_conn.client.exists(store._key(sid)) == 0


async def test_rotation_kills_the_old_id(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn)
    old = await store.create({"cart": ["a"]})
    new = await store.rotate(old, user="ann")
    assert new is not None and new != old
    assert await store.get(old) is None
    assert await store.get(new) == {"cart": ["a"]}
    assert await store.rotate(old) is None
    assert await store.destroy_user("ann") == 1  # rotation gave it a user
    assert await store.get(new) is None


async def test_concurrent_updates_lose_nothing(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn)
    sid = await store.create({"n": 0})

    async def bump(data: dict[str, int]) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"n": data["n"] + 1}

    await asyncio.gather(*(store.update(sid, bump) for _ in range(50)))
    assert await store.get(sid) == {"n": 50}
    gone = await store.create({"n": 0})
    await store.destroy(gone)
    assert await store.update(gone, bump) is None


async def test_destroy_user_ends_all_and_only_theirs(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn)
    anns = [await store.create({"who": "ann"}, user="ann") for _ in range(4)]
    bobs = [await store.create({"who": "bob"}, user="bob") for _ in range(2)]
    anonymous = await store.create({"who": None})
    await store.destroy(anns[0])
    assert await store.destroy_user("ann") == 3
    assert [await store.get(sid) for sid in anns] == [None] * 4
    assert [await store.get(sid) for sid in bobs] == [{"who": "bob"}] * 2
    assert await store.get(anonymous) == {"who": None}
    assert await store.destroy_user("nobody") == 0


async def test_the_user_index_drops_expired_sessions(aioredpat_conn: RedisPool) -> None:
    short = SessionStore(aioredpat_conn, ttl=1, namespace="idx")
    lasting = SessionStore(aioredpat_conn, ttl=3600, namespace="idx")  # the same index
    sids = [await short.create({}, user="ann") for _ in range(5)]
    await lasting.create({}, user="ann")
    index = short._index("ann")
    assert await aioredpat_conn.client.zcard(index) == 6

    async def past_their_scores() -> bool:  # the short sessions ended; their entries may go
        seconds, micros = await aioredpat_conn.client.time()
        now_ms = seconds * 1000 + micros // 1000
        return await aioredpat_conn.client.zcount(index, "-inf", now_ms) == 5

    await eventually(past_their_scores)
    assert all([await aioredpat_conn.client.exists(short._key(sid)) == 0 for sid in sids])
    await lasting.create({}, user="ann")  # adding prunes entries that can no longer live
    assert await aioredpat_conn.client.zcard(index) == 2
    assert 0 < await aioredpat_conn.client.pttl(index) <= 2 * 3600 * 1000  # expires with them


@pytest.mark.parametrize("sid", ["", "x" * 10_000, "é" * 43, "{x}", "a" * 43, "../../etc"])
async def test_malformed_ids_are_unknown(aioredpat_conn: RedisPool, sid: str) -> None:
    store = SessionStore(aioredpat_conn)
    assert await store.get(sid) is None
    assert await store.set(sid, {}) is False
    assert await store.destroy(sid) is False
    assert await store.rotate(sid) is None


async def test_settings_and_values_are_checked(aioredpat_conn: RedisPool) -> None:
    with pytest.raises(ConfigurationError, match="ttl must be between"):
        SessionStore(aioredpat_conn, ttl=0.5)
    store = SessionStore(aioredpat_conn, model=Cart)
    with pytest.raises(ConfigurationError, match="user must be None or a non-empty str"):
        await store.create(Cart(), user="")
    with pytest.raises(Exception, match="Cart"):
        await store.create("not a cart")  # type: ignore[arg-type]


async def test_get_is_one_round_trip(aioredpat_conn: RedisPool) -> None:
    store = SessionStore(aioredpat_conn)
    sid = await store.create({"n": 1})
    await store.get(sid)  # the script is loaded
    await reset_command_counts(aioredpat_conn)
    assert await store.get(sid) == {"n": 1}
    counted = await commands(aioredpat_conn)
    assert counted.pop("evalsha") == 1
    assert set(counted) <= {"hmget", "time", "pexpire"}  # run inside that one script
