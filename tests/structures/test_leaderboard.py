"""Leaderboard: best-score submits, competition ranks, pages, one round trip per call."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioredpat import ConfigurationError, Leaderboard, LeaderboardEntry, RedisPool
from aioredpat.testing import reset_command_counts
from tests.cache._helpers import commands


def competition_ranks(scores: dict[str, float], lowest_first: bool) -> dict[str, int]:
    """The model: one more than the number of strictly better scores."""
    better = (lambda a, b: a < b) if lowest_first else (lambda a, b: a > b)
    return {m: 1 + sum(better(o, s) for o in scores.values()) for m, s in scores.items()}


async def test_ties_share_a_rank_and_the_next_skips(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "game")
    for member, score in {"zed": 10, "amy": 9, "bob": 9, "cat": 8}.items():
        await board.set(member, score)
    assert [await board.rank(m) for m in ("zed", "amy", "bob", "cat")] == [1, 2, 2, 4]
    top = await board.top(4)
    assert [(e.score, e.rank) for e in top] == [(10, 1), (9, 2), (9, 2), (8, 4)]
    assert {e.member for e in top[1:3]} == {"amy", "bob"}
    assert await board.top(2, offset=2) == [
        LeaderboardEntry(top[2].member, 9.0, 2),
        LeaderboardEntry("cat", 8.0, 4),
    ]
    assert await board.rank("nobody") is None
    assert await board.size() == 4


async def test_submit_keeps_the_best_score(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "arcade")
    assert await board.submit("ann", 50) is True  # a first score always counts
    assert await board.submit("ann", 40) is False
    assert await board.score("ann") == 50
    assert await board.submit("ann", 70) is True
    assert await board.score("ann") == 70
    golf = Leaderboard(aioredpat_conn, "golf", lowest_first=True)
    assert await golf.submit("ann", 72) is True
    assert await golf.submit("ann", 75) is False
    assert await golf.submit("ann", 68) is True
    await golf.set("bob", 70)
    assert [(e.member, e.rank) for e in await golf.top()] == [("ann", 1), ("bob", 2)]


async def test_incr_starts_new_members_from_zero(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "points")
    assert await board.incr("ann", 5) == 5
    assert await board.incr("ann", 2.5) == 7.5
    assert await board.remove("ann") is True
    assert await board.remove("ann") is False
    assert await board.score("ann") is None


async def test_around_a_member(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "ladder")
    for i in range(10):
        await board.set(f"p{i}", i)  # p9 first
    around = await board.around("p5", n=2)
    assert [(e.member, e.rank) for e in around] == [
        ("p7", 3), ("p6", 4), ("p5", 5), ("p4", 6), ("p3", 7)
    ]  # fmt: skip
    assert [e.member for e in await board.around("p9", n=2)] == ["p9", "p8", "p7"]
    assert await board.around("nobody") == []


async def test_each_call_is_one_round_trip_and_keys_expire(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "ttl", ttl=60)
    await board.submit("warm", 1)
    await board.rank("warm")
    await reset_command_counts(aioredpat_conn)
    await board.submit("ann", 3)
    await board.rank("ann")
    await board.top(5)
    # three EVALSHAs, one per call; the rest ran inside them (INFO counts those too)
    assert await commands(aioredpat_conn) == {
        "evalsha": 3, "zadd": 1, "pexpire": 1, "zscore": 1, "zcount": 2, "zrevrange": 1
    }  # fmt: skip
    key = board._key
    assert 0 < await aioredpat_conn.client.pttl(key) <= 60_000


async def test_any_string_is_a_member(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "names")
    odd = ["{x}", "", "émoji 🎲", "\ud800", "a" * 1000]
    for i, member in enumerate(odd):
        await board.set(member, i)
    assert sorted(e.member for e in await board.top(10)) == sorted(odd)


async def test_bad_arguments_are_refused(aioredpat_conn: RedisPool) -> None:
    board = Leaderboard(aioredpat_conn, "bad")
    with pytest.raises(ConfigurationError, match="score must be a finite number"):
        await board.set("ann", math.nan)
    with pytest.raises(ConfigurationError, match="members are str"):
        await board.set(7, 1)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="n must be an int >= 1"):
        await board.top(0)
    with pytest.raises(ConfigurationError, match="name must be a non-empty str"):
        Leaderboard(aioredpat_conn, "")


scores = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.integers(min_value=-5, max_value=5).map(float),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scores=scores, lowest_first=st.booleans(), size=st.integers(1, 30))
async def test_ranks_match_a_model(
    aioredpat_pool: RedisPool, scores: dict[str, float], lowest_first: bool, size: int
) -> None:
    await aioredpat_pool.client.flushall()
    board = Leaderboard(aioredpat_pool, "model", lowest_first=lowest_first)
    for member, score in scores.items():
        await board.set(member, score)
    expected = competition_ranks(scores, lowest_first)
    for member in scores:
        assert await board.rank(member) == expected[member]
    pages = []
    for offset in range(0, len(scores), size):
        pages += await board.top(size, offset=offset)
    assert {e.member: e.rank for e in pages} == expected
    assert [e.rank for e in pages] == sorted(e.rank for e in pages)
    some = next(iter(scores))
    assert {e.member: e.rank for e in await board.around(some, n=3)}.items() <= expected.items()
